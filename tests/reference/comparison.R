# Reference values for outcomes.models.comparison (tests/test_comparison.py).
#
# Run from the repository root:
#     Rscript tests/reference/comparison.R
# It reads  tests/reference/comparison_{ancova,responder,time_to_response,flares,flares_nb}.csv
# and writes tests/reference/comparison_values.json
#
# Last run with R 4.2.2 (Debian), survival 3.5-3, MASS 7.3-58.2, jsonlite 1.8.4.
#
# The CSV files are the `data` frames of the Python models, made once with
#     from outcomes.simulate import simulate
#     from outcomes.cohort import Cohort
#     from outcomes.models.comparison import ancova, responder_odds, time_to_response, flare_rates
#     sim = simulate(400, seed=12)
#     c = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
#                            prescriptions=sim.prescriptions)
#     ancova(c, reference="weekly", covariates=("age_years", "sex")).data      -> comparison_ancova.csv
#     responder_odds(c, reference="weekly").data                             -> comparison_responder.csv
#     time_to_response(c, reference="weekly")[1].data                        -> comparison_time_to_response.csv
#     flare_rates(c, reference="weekly").data                                -> comparison_flares.csv
# each written with to_csv(index=False, float_format="%.10g") (schedule as text).
# The simulated flares are Poisson by construction (Pearson chi2/df 0.93, so Python keeps
# the Poisson model); comparison_flares_nb.csv is the same frame with overdispersed
# counts, to check the negative binomial branch:
#     rng = np.random.default_rng(2026)
#     rate = np.where(schedule == "guided", 0.03, 0.045) * rng.gamma(2.0, 0.5, len(f))
#     flares = rng.poisson(rate * sessions)
# Both R and the tests fit the files as written, so rounding does not enter the comparison.
#
# Models (reference schedule 'weekly'):
#   ancova:    lm(endpoint ~ schedule + baseline + age_years + sex)
#   responder: glm(responder ~ schedule + baseline, family = binomial)        Wald CIs
#   cox:       coxph(Surv(time, event) ~ schedule + baseline, ties = "breslow")
#   km:        survfit(Surv(time, event) ~ schedule)  (conf.type = "log", the default)
#   poisson:   glm(flares ~ schedule + offset(log(sessions)), family = poisson) (both flare files)
#   negbin:    MASS::glm.nb(flares ~ schedule + offset(log(sessions)))          (comparison_flares_nb.csv)
# Term names are written as statsmodels/patsy spells them ("(Intercept)" -> "Intercept",
# "scheduleguided" -> "schedule[T.guided]", "sexmale" -> "sex[T.male]"). Estimates are on
# the coefficient (log) scale; Python reports exp() of them, the tests take the log back.

suppressPackageStartupMessages({
  library(survival)
  library(MASS)
  library(jsonlite)
})

here <- "tests/reference"
read <- function(name) {
  d <- read.csv(file.path(here, paste0("comparison_", name, ".csv")), stringsAsFactors = FALSE)
  d$schedule <- factor(d$schedule, levels = c("weekly", "guided"))
  d
}

py_names <- function(x, factors) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  for (f in factors) x <- sub(paste0("^", f, "(.+)$"), paste0(f, "[T.\\1]"), x)
  x
}

coefs <- function(fit, factors, wald = TRUE) {
  s <- summary(fit)$coefficients
  est <- s[, 1]
  se <- s[, 2]
  q <- if (wald) qnorm(0.975) else qt(0.975, df.residual(fit))
  list(term = py_names(rownames(s), factors), estimate = unname(est), std_error = unname(se),
       ci_lower = unname(est - q * se), ci_upper = unname(est + q * se), p_value = unname(s[, ncol(s)]))
}

out <- list(r_version = R.version.string,
            survival = as.character(packageVersion("survival")),
            mass = as.character(packageVersion("MASS")),
            reference = "weekly")

# ANCOVA (t-based intervals)
d <- read("ancova")
d$sex <- factor(d$sex)
out$ancova <- coefs(lm(endpoint ~ schedule + baseline + age_years + sex, data = d),
                    c("schedule", "sex"), wald = FALSE)

# responder, logistic
d <- read("responder")
out$responder <- coefs(glm(responder ~ schedule + baseline, family = binomial, data = d), "schedule")

# time to response: Cox (Breslow) and Kaplan-Meier
d <- read("time_to_response")
cox <- coxph(Surv(time, event) ~ schedule + baseline, data = d, ties = "breslow")
s <- summary(cox)$coefficients
out$cox <- list(term = py_names(rownames(s), "schedule"), estimate = unname(s[, "coef"]),
                std_error = unname(s[, "se(coef)"]),
                ci_lower = unname(s[, "coef"] - qnorm(0.975) * s[, "se(coef)"]),
                ci_upper = unname(s[, "coef"] + qnorm(0.975) * s[, "se(coef)"]),
                p_value = unname(s[, "Pr(>|z|)"]), loglik = cox$loglik[2])
km <- summary(survfit(Surv(time, event) ~ schedule, data = d))  # event times only
out$km <- list(schedule = sub("^schedule=", "", as.character(km$strata)), time = km$time,
               survival = km$surv, ci_lower = km$lower, ci_upper = km$upper,
               at_risk = km$n.risk, events = km$n.event)

# flares: Poisson with offset, and the negative binomial on the overdispersed file
pearson <- function(fit) sum(residuals(fit, type = "pearson")^2) / df.residual(fit)
for (name in c("flares", "flares_nb")) {
  d <- read(name)
  p <- glm(flares ~ schedule + offset(log(sessions)), family = poisson, data = d)
  out[[paste0("poisson_", name)]] <- c(coefs(p, "schedule"), list(dispersion = pearson(p)))
}
d <- read("flares_nb")
nb <- glm.nb(flares ~ schedule + offset(log(sessions)), data = d)
out$negbin <- c(coefs(nb, "schedule"), list(theta = nb$theta, alpha = 1 / nb$theta))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "comparison_values.json"))
