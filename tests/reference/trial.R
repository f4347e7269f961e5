# Reference values for outcomes.models.trial (tests/test_trial.py).
#
# Run from the repository root:
#     Rscript tests/reference/trial.R
# It reads  tests/reference/trial_ancova.csv, tests/reference/trial_lmm.csv
# and writes tests/reference/trial_values.json.
#
# Last run with R 4.2.2 (Debian), lme4 1.1-31, jsonlite 1.8.4 (versions also in the JSON).
#
# The data: a synthetic three-arm, assessments-only trial, made once in Python and
# committed as tests/reference/trial_patients.csv and trial_assessments.csv:
#     sim = outcomes.simulate.simulate(300, seed=31)
#     arms: 'weekly' -> 'alpha'; 'guided' split at random (numpy default_rng(31),
#           uniform < 0.5) into 'beta' and 'gamma'
#     patients: patient_id, site_id, clinician_id, enrolled_on, age_years, sex, schedule,
#               discharged_on, discharge_reason; assessments: patient_id, assessed_on,
#               leg_pain, back_pain (no sessions export)
# From the Cohort built on those two files (tests/test_trial.py: _reference_cohort):
#     trial_ancova(c, covariates=("age_years", "sex"), reference="alpha").data -> trial_ancova.csv
#     trial_mixed_model(c, covariates=("age_years", "sex"), reference="alpha").data -> trial_lmm.csv
# written with float_format="%.10g" (both R and the tests fit the files as written).
#
# Models (reference arm 'alpha'; sex levels sorted, reference 'female', as patsy):
#   ancova: lm(endpoint ~ schedule + baseline + age_years + sex)
#   lmm:    lmer(y ~ week * schedule + age_years + sex + (week | patient_id), REML = TRUE)
# Term names are written as statsmodels/patsy spells them.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

here <- "tests/reference"
arms <- c("alpha", "beta", "gamma")
py_names <- function(x) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  for (a in arms[-1]) x <- gsub(paste0("schedule", a), paste0("schedule[T.", a, "]"), x, fixed = TRUE)
  for (s in c("male", "other", "unknown")) x <- sub(paste0("^sex", s, "$"), paste0("sex[T.", s, "]"), x)
  x
}
prep <- function(d) {
  d$schedule <- factor(d$schedule, levels = arms)
  d$sex <- factor(d$sex, levels = sort(unique(d$sex)))
  d
}

a <- prep(read.csv(file.path(here, "trial_ancova.csv"), stringsAsFactors = FALSE))
ols <- lm(endpoint ~ schedule + baseline + age_years + sex, data = a)
cf <- summary(ols)$coefficients

m <- prep(read.csv(file.path(here, "trial_lmm.csv"), stringsAsFactors = FALSE))
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
fit <- lmer(y ~ week * schedule + age_years + sex + (week | patient_id), data = m, REML = TRUE, control = tight)
fe <- fixef(fit)
se <- sqrt(diag(as.matrix(vcov(fit))))
vc <- as.data.frame(VarCorr(fit))

out <- list(
  generated_by = "tests/reference/trial.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  reference_schedule = "alpha",
  ancova = list(
    formula = "endpoint ~ schedule + baseline + age_years + sex",
    estimates = as.list(setNames(unname(cf[, 1]), py_names(rownames(cf)))),
    std_errors = as.list(setNames(unname(cf[, 2]), py_names(rownames(cf)))),
    n_observations = nobs(ols)
  ),
  lmm = list(
    formula = "y ~ week * schedule + age_years + sex + (week | patient_id)",
    control = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e5))",
    estimates = as.list(setNames(unname(fe), py_names(names(fe)))),
    std_errors = as.list(setNames(unname(se), py_names(names(fe)))),
    variance_components = list(
      intercept_sd = vc$sdcor[vc$var1 == "(Intercept)" & is.na(vc$var2) & vc$grp == "patient_id"],
      slope_sd = vc$sdcor[vc$var1 == "week" & is.na(vc$var2) & vc$grp == "patient_id"],
      intercept_slope_corr = vc$sdcor[vc$var1 == "(Intercept)" & vc$var2 %in% "week"],
      residual_sd = sigma(fit)
    ),
    reml_loglik = as.numeric(logLik(fit)),
    n_observations = nobs(fit),
    lme4_messages = as.list(c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings))
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "trial_values.json"))
cat("wrote", file.path(here, "trial_values.json"), "\n")
