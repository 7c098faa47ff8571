//! The hard spending cap of a collect run: money is counted in whole picodollars (10⁻¹² USD), so the
//! spend a run reports is exactly the sum of usage × price, and a call starts only after its worst case
//! is reserved within what is left.

use std::sync::{Mutex, PoisonError};

/// Picodollars in one US dollar.
pub const PICO_PER_USD: f64 = 1e12;

/// A provider's prices in picodollars per token (a price in USD per million tokens × 10⁶).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPrices {
    pub input_pico: u64,
    pub output_pico: u64,
}

impl TokenPrices {
    /// From USD per million tokens (registry prices), rounded to the picodollar per token: exact for
    /// prices with up to six decimals, which every list price has.
    pub fn from_usd_per_mtok(input: f64, output: f64) -> Self {
        let pico = |usd: f64| (usd * 1e6).round().max(0.0) as u64;
        Self {
            input_pico: pico(input),
            output_pico: pico(output),
        }
    }

    /// The cost of a call that used these tokens.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> u64 {
        input_tokens
            .saturating_mul(self.input_pico)
            .saturating_add(output_tokens.saturating_mul(self.output_pico))
    }
}

/// USD from picodollars (for reports; sums stay in picodollars).
pub fn usd(pico: u64) -> f64 {
    pico as f64 / PICO_PER_USD
}

/// An upper bound on the input tokens of a request whose texts total `bytes` UTF-8 bytes in `messages`
/// messages: byte-level BPE tokenizers never make more tokens than bytes, and each message adds a few
/// tokens of framing.
pub fn worst_input_tokens(bytes: usize, messages: usize) -> u64 {
    (bytes + 8 * messages + 16) as u64
}

#[derive(Debug, Default)]
struct Ledger {
    spent: u64,
    reserved: u64,
    /// Set once a call did not fit: no call starts after it (the run stops cleanly).
    exhausted: bool,
}

/// The run's budget: what was spent (including earlier runs in the same folder), what in-flight calls
/// may still spend, and the cap.
#[derive(Debug)]
pub struct Budget {
    cap: u64,
    ledger: Mutex<Ledger>,
    /// Woken when a reservation is settled (a call waiting for room may now fit).
    freed: tokio::sync::Notify,
}

/// Money set aside for one call in flight; give it back with [`Budget::settle`].
#[derive(Debug)]
#[must_use = "a reservation is settled with the call's real cost"]
pub struct Reservation {
    amount: u64,
}

impl Budget {
    /// A cap of `cap_usd`, of which `already_spent` picodollars are gone.
    pub fn new(cap_usd: f64, already_spent: u64) -> Self {
        Self {
            cap: (cap_usd * PICO_PER_USD).floor().max(0.0) as u64,
            ledger: Mutex::new(Ledger {
                spent: already_spent,
                ..Ledger::default()
            }),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// Reserves `worst_case` for a call. When it does not fit beside the spend and the calls in flight,
    /// it waits for those to settle; when it does not fit beside the spend alone, it refuses, and from
    /// then on every call is refused (the run stops cleanly at the cap).
    pub async fn reserve(&self, worst_case: u64) -> Option<Reservation> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a settle between the check and the wait is not missed.
            freed.as_mut().enable();
            match self.try_reserve(worst_case) {
                Ok(r) => return r,
                Err(()) => freed.await,
            }
        }
    }

    /// `Ok(Some)`: reserved; `Ok(None)`: refused for good; `Err`: wait for calls in flight.
    fn try_reserve(&self, worst_case: u64) -> Result<Option<Reservation>, ()> {
        let mut l = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        if l.exhausted {
            return Ok(None);
        }
        if l.spent.saturating_add(worst_case) > self.cap {
            l.exhausted = true;
            return Ok(None);
        }
        if l.spent
            .saturating_add(l.reserved)
            .saturating_add(worst_case)
            > self.cap
        {
            return Err(());
        }
        l.reserved += worst_case;
        Ok(Some(Reservation { amount: worst_case }))
    }

    /// Ends a reservation with the call's real cost (0 for a call that failed before it was billed).
    pub fn settle(&self, reservation: Reservation, real_cost: u64) {
        {
            let mut l = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
            l.reserved = l.reserved.saturating_sub(reservation.amount);
            l.spent = l.spent.saturating_add(real_cost);
        }
        self.freed.notify_waiters();
    }

    /// Stops new calls (Ctrl-C).
    pub fn close(&self) {
        self.ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .exhausted = true;
        self.freed.notify_waiters();
    }

    /// Whether a call was refused for lack of budget (or the budget was closed).
    pub fn exhausted(&self) -> bool {
        self.ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .exhausted
    }

    /// Picodollars spent so far.
    pub fn spent(&self) -> u64 {
        self.ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spent
    }

    /// The cap in picodollars.
    pub fn cap(&self) -> u64 {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_waits_for_calls_in_flight_and_stops_when_the_spend_leaves_no_room() {
        let b = std::sync::Arc::new(Budget::new(1e-6, 0)); // one microdollar = 10^6 pico
        let r1 = b.reserve(600_000).await.unwrap();
        // 600k in flight + 500k > 1M: the second call waits until the first settles at 100k.
        let waiting = tokio::spawn({
            let b = std::sync::Arc::clone(&b);
            async move { b.reserve(500_000).await.map(|r| r.amount) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        b.settle(r1, 100_000);
        assert_eq!(waiting.await.unwrap(), Some(500_000));
        // 100k spent (+500k reserved): 950k can never fit beside the spend: refused, and every later call.
        assert!(b.reserve(950_000).await.is_none());
        assert!(b.reserve(1).await.is_none());
        assert!(b.exhausted());
        assert_eq!(b.spent(), 100_000);
    }

    #[test]
    fn prices_are_exact_in_picodollars() {
        let p = TokenPrices::from_usd_per_mtok(0.15, 0.6);
        assert_eq!(p.input_pico, 150_000);
        assert_eq!(p.output_pico, 600_000);
        assert_eq!(p.cost(1000, 10), 150_000_000 + 6_000_000);
        assert!((usd(p.cost(1_000_000, 0)) - 0.15).abs() < 1e-15);
    }
}
