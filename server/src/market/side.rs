//! Which way an order or a fill goes.

use rust_decimal::Decimal;

use crate::words::word_enum;

word_enum! {
    /// Buy or sell; there is no third way.
    pub enum Side {
        Buy => "buy",
        Sell => "sell",
    }
}

impl Side {
    /// The other way: what closes a position opened this way.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// `quantity` signed by the side: buys add, sells take away.
    pub fn signed(self, quantity: Decimal) -> Decimal {
        match self {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_have_words_and_opposites() {
        assert_eq!(Side::Buy.word(), "buy");
        assert_eq!(Side::from_word("sell"), Some(Side::Sell));
        assert_eq!(Side::from_word("hold"), None);
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!(Side::Sell.signed(Decimal::ONE), -Decimal::ONE);
    }
}
