//! Market vocabulary every domain shares: exact decimals parsed from
//! strings, the symbol normalizer that turns the many spellings of an
//! instrument into one canonical form, and positions built from fills.

pub mod account;
pub mod decimal;
pub mod hours;
pub mod instrument;
pub mod margin;
pub mod position;
pub mod side;
pub mod symbol;
