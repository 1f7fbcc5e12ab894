//! Market vocabulary every domain shares: exact decimals parsed from
//! strings, and the symbol normalizer that turns the many spellings of an
//! instrument into one canonical form.

pub mod decimal;
pub mod symbol;
