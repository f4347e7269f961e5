# Reference values for the analysis plan executed by `outcomes compare` (tests/test_compare_plan.py).
#
# Run from the repository root:
#     Rscript tests/reference/trial_plan.R
# It reads tests/reference/trial_lmm_baseline.csv, trial_responder.csv, trial_time_to_response.csv
# and writes tests/reference/trial_plan_values.json.
#
# The data: the three-arm reference trial of tests/reference/trial.R (trial_patients.csv,
# trial_assessments.csv). The frames were written once in Python from
#     compare_schedules(cohort, plan=AnalysisPlan(reference="alpha", covariates=("age_years", "sex"),
#         mixed_model=MixedModelOptions(random="intercept", baseline="covariate"),
#         sensitivity=Sensitivity(imputations=0, tipping_point=()),
#         responders=(ResponderDefinition("improved", "leg_pain", improved_by_at_least=2,
#                                         improved_pct_at_least=30),)))
# (the model's .data, float_format="%.10g"); the tests check that compare still builds the same frames.
#
# Models (reference arm 'alpha'; sex levels sorted, reference 'female', as patsy):
#   lmm_baseline: lmer(y ~ week * schedule + baseline + age_years + sex + (1 | patient_id), REML = TRUE)
#                 (the textbook model: post-baseline assessments as the response, baseline a covariate)
#   responder:    glm(responder ~ schedule + baseline + age_years + sex, binomial)
#   cox:          coxph(Surv(time, event) ~ schedule + baseline + age_years + sex, ties = "breslow")
#   lmm_visit:    lmer(y ~ baseline + visit * schedule + age_years + sex + (1 | patient_id), REML = TRUE),
#                 visit a factor, on trial_lmm_visit.csv (analysis_data_lmm_visit.csv of the same compare run
#                 with [mixed_model] random = "intercept", baseline = "covariate", time = "visit"; rows with a
#                 missing y dropped here, as lmer would)

suppressPackageStartupMessages({
  library(lme4)
  library(survival)
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
named <- function(v, n) as.list(setNames(unname(v), py_names(n)))

m <- prep(read.csv(file.path(here, "trial_lmm_baseline.csv"), stringsAsFactors = FALSE))
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
fit <- lmer(y ~ week * schedule + baseline + age_years + sex + (1 | patient_id), data = m, REML = TRUE,
            control = tight)
fe <- fixef(fit)
se <- sqrt(diag(as.matrix(vcov(fit))))
vc <- as.data.frame(VarCorr(fit))

r <- prep(read.csv(file.path(here, "trial_responder.csv"), stringsAsFactors = FALSE))
lg <- glm(responder ~ schedule + baseline + age_years + sex, family = binomial, data = r)
lc <- summary(lg)$coefficients

t <- prep(read.csv(file.path(here, "trial_time_to_response.csv"), stringsAsFactors = FALSE))
cx <- coxph(Surv(time, event) ~ schedule + baseline + age_years + sex, data = t, ties = "breslow")
cc <- summary(cx)$coefficients

v <- prep(read.csv(file.path(here, "trial_lmm_visit.csv"), stringsAsFactors = FALSE))
v <- v[!is.na(v$y), ]
v$visit <- factor(v$visit, levels = sort(unique(v$visit)))
vf <- lmer(y ~ baseline + visit * schedule + age_years + sex + (1 | patient_id), data = v, REML = TRUE,
           control = tight)
vn <- names(fixef(vf))
vn <- gsub("visit([0-9]+)", "visit[T.\\1]", vn)

out <- list(
  generated_by = "tests/reference/trial_plan.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  survival_version = as.character(packageVersion("survival")),
  lmm_baseline = list(
    formula = "y ~ week * schedule + baseline + age_years + sex + (1 | patient_id)",
    estimates = named(fe, names(fe)), std_errors = named(se, names(fe)),
    intercept_sd = vc$sdcor[vc$grp == "patient_id"], residual_sd = sigma(fit),
    reml_loglik = as.numeric(logLik(fit)), n_observations = nobs(fit)
  ),
  responder = list(
    formula = "responder ~ schedule + baseline + age_years + sex",
    estimates = named(lc[, 1], rownames(lc)), std_errors = named(lc[, 2], rownames(lc)), n_observations = nobs(lg)
  ),
  lmm_visit = list(
    formula = "y ~ baseline + visit * schedule + age_years + sex + (1 | patient_id)",
    estimates = named(fixef(vf), vn), std_errors = named(sqrt(diag(as.matrix(vcov(vf)))), vn),
    reml_loglik = as.numeric(logLik(vf)), n_observations = nobs(vf)
  ),
  cox = list(
    formula = "Surv(time, event) ~ schedule + baseline + age_years + sex",
    estimates = named(cc[, 1], rownames(cc)), std_errors = named(cc[, 3], rownames(cc)), n_events = cx$nevent
  )
)
write_json(out, file.path(here, "trial_plan_values.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
