//! What a Media Source Extensions player must be told about a fragmented MP4
//! video before it appends a byte: its MIME type with the RFC 6381 `codecs`
//! parameter (`video/mp4; codecs="avc1.64001e"`), read from the video's
//! initialization segment.
//!
//! H.264: the `avcC` box's profile, compatibility and level bytes
//! (ISO/IEC 14496-15 §5.3.3.1) give `avc1.PPCCLL`. AAC: an `mp4a` sample
//! entry is named `mp4a.40.2` (AAC-LC, what ffmpeg's encoder writes; the
//! exact object type would need the `esds` descriptor).

/// The MSE type of the fMP4 video whose initialization segment is `init`
/// (`ftyp` + `moov`), or `None` when it carries no H.264 track.
pub fn mse_type(init: &[u8]) -> Option<String> {
    let at = find(init, b"avcC")?;
    let config = init.get(at + 4..at + 8)?;
    if config[0] != 1 {
        return None; // configurationVersion is always 1
    }
    let mut codecs = format!("avc1.{:02x}{:02x}{:02x}", config[1], config[2], config[3]);
    if find(init, b"mp4a").is_some() {
        codecs.push_str(",mp4a.40.2");
    }
    Some(format!("video/mp4; codecs=\"{codecs}\""))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_h264_profile_and_level() {
        // … size, "avcC", version 1, High (0x64), compat 0, level 3.0 (0x1e) …
        let mut init = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso6".to_vec();
        init.extend_from_slice(b"\0\0\0\x30avcC\x01\x64\x00\x1e\xff\xe1");
        assert_eq!(
            mse_type(&init).as_deref(),
            Some("video/mp4; codecs=\"avc1.64001e\"")
        );
        init.extend_from_slice(b"\0\0\0\x20mp4a");
        assert_eq!(
            mse_type(&init).as_deref(),
            Some("video/mp4; codecs=\"avc1.64001e,mp4a.40.2\"")
        );
    }

    #[test]
    fn anything_else_has_no_type() {
        assert_eq!(mse_type(b""), None);
        assert_eq!(mse_type(b"avcC"), None, "cut short");
        assert_eq!(mse_type(b"avcC\x02\x64\x00\x1e"), None, "not version 1");
        assert_eq!(mse_type(&[0x47; 376]), None, "MPEG-TS");
    }
}
