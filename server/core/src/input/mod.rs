//! The recorded inputs both the simulator and the live network emulator
//! replay: bandwidth traces ([`trace`]) and video descriptions, chunk
//! durations and sizes ([`video`]). Text in, values out: the server reads
//! the files and hands their contents here, so parsing stays pure and is
//! shared by `vstack sim`, the emulated nodes and the embedded cluster's
//! video; [`media`] reads an fMP4 initialization segment's codecs for a
//! browser player.

pub mod media;
pub mod trace;
pub mod video;

pub use trace::{Period, Trace, TraceError};
pub use video::{Ladder, VideoError, VideoSource, load_chunks};
