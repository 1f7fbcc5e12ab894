//! The trace sampler named by `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG`, checked at start: an unknown sampler or a bad
//! ratio is a start-up error naming the variable, not a silent fallback.

use opentelemetry_sdk::trace::Sampler;

/// The sampler the OpenTelemetry variables in `env` name; the default
/// (`parentbased_always_on`) when `OTEL_TRACES_SAMPLER` is unset.
pub fn sampler_from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Sampler> {
    let Some(name) = env("OTEL_TRACES_SAMPLER") else {
        return Ok(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    };
    let ratio = || -> anyhow::Result<f64> {
        let Some(arg) = env("OTEL_TRACES_SAMPLER_ARG") else {
            return Ok(1.0);
        };
        match arg.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
            _ => anyhow::bail!(
                "invalid OTEL_TRACES_SAMPLER_ARG `{arg}`: a ratio from 0 to 1 is expected"
            ),
        }
    };
    let parent_based = |root| Sampler::ParentBased(Box::new(root));
    Ok(match name.trim() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()?),
        "parentbased_always_on" => parent_based(Sampler::AlwaysOn),
        "parentbased_always_off" => parent_based(Sampler::AlwaysOff),
        "parentbased_traceidratio" => parent_based(Sampler::TraceIdRatioBased(ratio()?)),
        other => anyhow::bail!(
            "invalid OTEL_TRACES_SAMPLER `{other}`: expected always_on, always_off, \
             traceidratio, parentbased_always_on, parentbased_always_off or \
             parentbased_traceidratio"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(vars: &[(&str, &str)]) -> anyhow::Result<Sampler> {
        sampler_from_env(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn names_and_ratios_map_to_samplers() {
        let debug = |s: Sampler| format!("{s:?}");
        assert_eq!(debug(sampler(&[]).unwrap()), "ParentBased(AlwaysOn)");
        assert_eq!(
            debug(sampler(&[("OTEL_TRACES_SAMPLER", "always_off")]).unwrap()),
            "AlwaysOff"
        );
        assert_eq!(
            debug(
                sampler(&[
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                ])
                .unwrap()
            ),
            "ParentBased(TraceIdRatioBased(0.25))"
        );
    }

    #[test]
    fn unknown_names_and_bad_ratios_are_errors_naming_the_variable() {
        let err = sampler(&[("OTEL_TRACES_SAMPLER", "sometimes")]).unwrap_err();
        assert!(err.to_string().contains("OTEL_TRACES_SAMPLER `sometimes`"));
        let err = sampler(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("OTEL_TRACES_SAMPLER_ARG `1.5`"));
    }
}
