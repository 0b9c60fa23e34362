//! The two live clients the product compares — [`ClientKind::Smart`] and
//! [`ClientKind::Naive`] — and [`PerClient`], a value for each of them.

use serde::{Deserialize, Serialize};

use super::{NodeSelector, RoundRobinSelector, SmartSelector};

/// Which node selection a live client uses. On the wire: `"smart"`, `"naive"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Seed score + load balancing, with probes ([`SmartSelector`]).
    Smart,
    /// Round robin, no probes ([`RoundRobinSelector`]): the baseline.
    Naive,
}

impl ClientKind {
    /// Both kinds, smart first.
    pub const ALL: [ClientKind; 2] = [ClientKind::Smart, ClientKind::Naive];

    /// The kind named `name` (`smart`, `naive`), as [`ClientKind::name`]
    /// writes it.
    pub fn parse(name: &str) -> Option<Self> {
        [ClientKind::Smart, ClientKind::Naive]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// Lower-case name (`smart`, `naive`).
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Smart => "smart",
            ClientKind::Naive => "naive",
        }
    }

    /// The twin: naive for smart and smart for naive.
    pub fn other(self) -> Self {
        match self {
            ClientKind::Smart => ClientKind::Naive,
            ClientKind::Naive => ClientKind::Smart,
        }
    }

    /// The quality rule this kind plays on a video with a ladder unless told
    /// otherwise: the smart client vstack's multi-source rule, the naive
    /// one BOLA-E (dash.js's default; Spiteri et al., MMSys 2018), as
    /// `vstack sim` pits them.
    pub fn default_abr(self) -> crate::abr::AbrKind {
        match self {
            ClientKind::Smart => crate::abr::AbrKind::MultiSource,
            ClientKind::Naive => crate::abr::AbrKind::Bolae,
        }
    }

    /// A fresh node selector of this kind.
    pub fn selector(self) -> Box<dyn NodeSelector> {
        match self {
            ClientKind::Smart => Box::new(SmartSelector),
            ClientKind::Naive => Box::new(RoundRobinSelector::default()),
        }
    }
}

impl std::fmt::Display for ClientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per client kind. On the wire an object `{"smart": …, "naive": …}`;
/// flattened into a parent struct, its two fields sit beside the parent's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PerClient<T> {
    /// The smart client's.
    pub smart: T,
    /// The naive client's.
    pub naive: T,
}

impl<T> PerClient<T> {
    /// A pair from a function of the kind.
    pub fn from_fn(mut f: impl FnMut(ClientKind) -> T) -> Self {
        Self {
            smart: f(ClientKind::Smart),
            naive: f(ClientKind::Naive),
        }
    }

    /// The value of `kind`.
    pub fn get(&self, kind: ClientKind) -> &T {
        match kind {
            ClientKind::Smart => &self.smart,
            ClientKind::Naive => &self.naive,
        }
    }

    /// The value of `kind`, mutable.
    pub fn get_mut(&mut self, kind: ClientKind) -> &mut T {
        match kind {
            ClientKind::Smart => &mut self.smart,
            ClientKind::Naive => &mut self.naive,
        }
    }

    /// Both values by reference.
    pub fn as_ref(&self) -> PerClient<&T> {
        PerClient {
            smart: &self.smart,
            naive: &self.naive,
        }
    }

    /// Both values through `f`.
    pub fn map<U>(self, mut f: impl FnMut(ClientKind, T) -> U) -> PerClient<U> {
        PerClient {
            smart: f(ClientKind::Smart, self.smart),
            naive: f(ClientKind::Naive, self.naive),
        }
    }

    /// Pairs each value with `other`'s.
    pub fn zip<U>(self, other: PerClient<U>) -> PerClient<(T, U)> {
        PerClient {
            smart: (self.smart, other.smart),
            naive: (self.naive, other.naive),
        }
    }

    /// `(kind, &value)`, smart first.
    pub fn iter(&self) -> impl Iterator<Item = (ClientKind, &T)> {
        [
            (ClientKind::Smart, &self.smart),
            (ClientKind::Naive, &self.naive),
        ]
        .into_iter()
    }

    /// `(kind, &mut value)`, smart first.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ClientKind, &mut T)> {
        [
            (ClientKind::Smart, &mut self.smart),
            (ClientKind::Naive, &mut self.naive),
        ]
        .into_iter()
    }
}

impl<T> IntoIterator for PerClient<T> {
    type Item = (ClientKind, T);
    type IntoIter = std::array::IntoIter<(ClientKind, T), 2>;

    /// `(kind, value)`, smart first.
    fn into_iter(self) -> Self::IntoIter {
        [
            (ClientKind::Smart, self.smart),
            (ClientKind::Naive, self.naive),
        ]
        .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_pairs() {
        assert_eq!(
            serde_json::to_string(&ClientKind::Naive).unwrap(),
            "\"naive\""
        );
        let p = PerClient::from_fn(|k| k.name().len());
        assert_eq!(*p.get(ClientKind::Smart), 5);
        let json = serde_json::to_value(PerClient { smart: 1, naive: 2 }).unwrap();
        assert_eq!(json, serde_json::json!({"smart": 1, "naive": 2}));
        let kinds: Vec<ClientKind> = p.into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ClientKind::ALL);
        assert_eq!(
            ClientKind::Smart.selector().strategy(),
            super::super::Strategy::Smart
        );
        assert!(!ClientKind::Naive.selector().uses_probes());
    }
}
