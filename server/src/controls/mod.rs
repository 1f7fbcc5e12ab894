//! Trading controls the order path obeys and operators steer: the trading
//! halt (kill switch) and one circuit breaker per exchange.

pub mod breakers;
pub mod halt;
