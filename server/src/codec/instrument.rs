//! Instruments on the wire.

use tradeplane_api as pb;

use super::{CodecError, enums::Mirrored};
use crate::market::instrument::{Instrument, InstrumentKind};

impl From<&Instrument> for pb::Instrument {
    fn from(instrument: &Instrument) -> Self {
        pb::Instrument {
            venue: instrument.venue.clone(),
            base: instrument.base.clone(),
            quote: instrument.quote.clone(),
            kind: instrument.kind.number(),
            symbol: instrument.symbol.clone(),
        }
    }
}

impl TryFrom<pb::Instrument> for Instrument {
    type Error = CodecError;

    fn try_from(instrument: pb::Instrument) -> Result<Self, CodecError> {
        Ok(Instrument {
            kind: InstrumentKind::required(instrument.kind, "instrument.kind")?,
            venue: instrument.venue,
            base: instrument.base,
            quote: instrument.quote,
            symbol: instrument.symbol,
        })
    }
}
