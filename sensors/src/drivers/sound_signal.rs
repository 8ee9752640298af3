//! Whether a window of ADC samples carries any signal at all. A microphone module biases its
//! output at about half the supply and always adds some noise, so a window that never moves
//! (an unplugged module, a dead ADC answering a constant) or sits at a rail (input floating to
//! ground or the supply, a shorted module) is not a quiet room: the sensor reports
//! `no signal` instead of a level. Pure: samples in, a reason out.

/// Fraction of the span within which a window counts as stuck at a rail.
const RAIL_FRACTION: f64 = 0.01;

/// Why `samples` (counts of an ADC spanning `full_scale`) carry no signal, or `None` when they
/// do. Samples may be offset (a signed ADC: the ADS1115's negative half is unused here).
pub fn no_signal(samples: &[i32], full_scale: f64) -> Option<String> {
    let (&first, rest) = samples.split_first()?;
    let (min, max) = rest
        .iter()
        .fold((first, first), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let margin = full_scale * RAIL_FRACTION;
    if f64::from(max) <= margin {
        return Some(format!(
            "the input sat at the low rail ({min}..{max} counts) for {} samples: the module \
             is unpowered or unplugged, or its output is shorted to ground",
            samples.len()
        ));
    }
    if f64::from(min) >= full_scale - margin {
        return Some(format!(
            "the input sat at the high rail ({min}..{max} counts) for {} samples: check the \
             module's output wire and the ADC's reference",
            samples.len()
        ));
    }
    (min == max).then(|| {
        format!(
            "the input did not move from {min} counts in {} samples: a live microphone always \
             shows some noise; check that the module is powered and wired to this channel",
            samples.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_rail_stuck_inputs_have_no_signal() {
        assert!(no_signal(&[512; 400], 1023.0)
            .unwrap_or_default()
            .contains("did not move"));
        assert!(no_signal(&[0, 1, 0, 3, 2], 1023.0)
            .unwrap_or_default()
            .contains("low rail"));
        assert!(no_signal(&[1023, 1020, 1023], 1023.0)
            .unwrap_or_default()
            .contains("high rail"));
    }

    #[test]
    fn a_quiet_room_still_has_signal() {
        // A biased module in a quiet room: mid-scale with a count or two of noise.
        let quiet: Vec<i32> = (0..400).map(|i| 511 + (i % 3) - 1).collect();
        assert_eq!(no_signal(&quiet, 1023.0), None);
        // Loud enough to clip now and then is not stuck.
        assert_eq!(no_signal(&[0, 512, 1023, 512], 1023.0), None);
        assert_eq!(no_signal(&[], 1023.0), None);
    }
}
