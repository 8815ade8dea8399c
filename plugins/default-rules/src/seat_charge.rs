//! What a seat costs: a member who takes a seat beyond the org's limit on a
//! paid plan is billed pro rata at invite time, Stripe-style, in integer
//! cents.
//!
//! Free plans, external guests and seats within the limit (or an unlimited
//! plan, `seat_limit = 0`) cost nothing. Otherwise the charge is the seat
//! price times the share of the billing period that remains:
//!
//! ```text
//! period    = period_end - period_start                      (> 0)
//! remaining = clamp(period_end - event_time, 0, period)
//! amount    = round_half_up(price * remaining / period)      in u128
//! ```
//!
//! Since `remaining <= period`, the amount never exceeds the seat price.

use alloc::format;
use alloc::string::String;

/// A member about to take a seat, and the org's terms at that moment.
#[derive(Clone, Copy, Debug)]
pub struct Seat<'a> {
    /// The plan's name (`free`, `pro`, …), for the reason.
    pub plan: &'a str,
    /// Whether the plan bills no seats at all.
    pub free_plan: bool,
    /// Whether the new member is an external guest (who takes no seat).
    pub external_guest: bool,
    /// 0 means unlimited.
    pub seat_limit: u32,
    /// Seats taken before this member joins.
    pub seats_used: u32,
    /// Price of one seat for a whole billing period, in cents.
    pub seat_price_cents: u64,
    /// The billing period and the moment of the invitation, in seconds
    /// since the Unix epoch.
    pub period_start: i64,
    pub period_end: i64,
    pub event_time: i64,
}

/// What the seat costs, and why in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub amount_cents: u64,
    pub reason: String,
}

/// Prices `seat` (see the module documentation).
pub fn seat_charge(seat: &Seat) -> Charge {
    let free = |reason: String| Charge {
        amount_cents: 0,
        reason,
    };
    if seat.free_plan {
        return free("free plan: seats are not billed".into());
    }
    if seat.external_guest {
        return free("external guests are free".into());
    }
    if seat.seat_limit == 0 {
        return free(format!(
            "within the seat limit ({}/unlimited)",
            seat.seats_used
        ));
    }
    if seat.seats_used < seat.seat_limit {
        return free(format!(
            "within the seat limit ({}/{})",
            seat.seats_used, seat.seat_limit
        ));
    }
    // i128: no i64 subtraction can overflow.
    let period = i128::from(seat.period_end) - i128::from(seat.period_start);
    if period <= 0 {
        return free(format!(
            "invalid billing period ({}..{}): not billed",
            seat.period_start, seat.period_end
        ));
    }
    let remaining = (i128::from(seat.period_end) - i128::from(seat.event_time)).clamp(0, period);
    let (period, remaining) = (period as u128, remaining as u128);
    let price = u128::from(seat.seat_price_cents);
    // price * remaining < 2^64 * 2^64 fits u128 (remaining <= period < 2^64);
    // rounding half up by the remainder, so nothing is doubled.
    let share = price * remaining;
    let amount = share / period + u128::from(2 * (share % period) >= period);
    let amount = u64::try_from(amount).expect("amount <= seat price");
    Charge {
        amount_cents: amount,
        reason: format!(
            "seat {} of limit {} on plan {}: {amount} cents = {price} × {remaining}/{period} s remaining",
            u64::from(seat.seats_used) + 1,
            seat.seat_limit,
            seat.plan,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn over_limit(price: u64, start: i64, end: i64, at: i64) -> Seat<'static> {
        Seat {
            plan: "pro",
            free_plan: false,
            external_guest: false,
            seat_limit: 3,
            seats_used: 3,
            seat_price_cents: price,
            period_start: start,
            period_end: end,
            event_time: at,
        }
    }

    #[test]
    fn a_seat_beyond_the_limit_costs_the_remaining_share_of_the_period() {
        let charge = seat_charge(&over_limit(3_000, 0, 30 * DAY, 20 * DAY));
        assert_eq!(charge.amount_cents, 1_000);
        assert_eq!(
            charge.reason,
            "seat 4 of limit 3 on plan pro: 1000 cents = 3000 × 864000/2592000 s remaining"
        );
    }

    #[test]
    fn halves_round_up_and_the_charge_never_exceeds_the_price() {
        // 1 cent × 1/2 of the period = 0.5 → 1.
        assert_eq!(seat_charge(&over_limit(1, 0, 2, 1)).amount_cents, 1);
        // Before the period starts: the whole price, not more.
        assert_eq!(seat_charge(&over_limit(999, 10, 20, -5)).amount_cents, 999);
        // After it ends: nothing.
        assert_eq!(seat_charge(&over_limit(999, 10, 20, 25)).amount_cents, 0);
        // Extremes do not overflow.
        let max = over_limit(u64::MAX, i64::MIN, i64::MAX, i64::MIN);
        assert_eq!(seat_charge(&max).amount_cents, u64::MAX);
    }

    #[test]
    fn free_plans_guests_and_seats_within_the_limit_cost_nothing() {
        let base = over_limit(3_000, 0, 30 * DAY, 0);
        let cases = [
            (
                Seat {
                    free_plan: true,
                    ..base
                },
                "free plan: seats are not billed",
            ),
            (
                Seat {
                    external_guest: true,
                    ..base
                },
                "external guests are free",
            ),
            (
                Seat {
                    seat_limit: 0,
                    ..base
                },
                "within the seat limit (3/unlimited)",
            ),
            (
                Seat {
                    seats_used: 2,
                    ..base
                },
                "within the seat limit (2/3)",
            ),
            (
                Seat {
                    period_end: 0,
                    ..base
                },
                "invalid billing period (0..0): not billed",
            ),
        ];
        for (seat, reason) in cases {
            assert_eq!(
                seat_charge(&seat),
                Charge {
                    amount_cents: 0,
                    reason: reason.into()
                }
            );
        }
    }
}
