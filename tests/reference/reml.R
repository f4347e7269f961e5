# Reference values for the REML engine (outcomes.models._reml; tests/test_reml.py).
#
# Run from the repository root:
#     python tests/reference/reml_data.py   # writes reml_data.csv and reml_short.csv (seeded)
#     Rscript tests/reference/reml.R        # writes reml_values.json
#
# Last run with R 4.2.2 (Debian), lme4 1.1-31, Matrix 1.5-3, jsonlite 1.8.4.
#
# Models, reference schedule 'weekly', term names as patsy spells them:
#   unbalanced_slope:      reml_data.csv   y ~ week * schedule + age_years + sex + (week | patient_id), REML
#   unbalanced_intercept:  reml_data.csv   y ~ week * schedule + age_years + sex + (1 | patient_id), REML
#   unbalanced_slope_ml:   reml_data.csv   as unbalanced_slope, ML (REML = FALSE)
#   short_slope:           reml_short.csv  y ~ week * schedule + (week | patient_id), REML
#   short_intercept:       reml_short.csv  y ~ week * schedule + (1 | patient_id), REML
# lme4 is run with a tight bobyqa (rhoend 1e-12, maxfun 1e5) so that the reference is the
# optimum rather than a default stopping point; the largest absolute gradient of the
# deviance that lme4 reports at its optimum (finite differences) is stored as
# "lme4_max_abs_gradient", and lme4's theta (the lower triangle of Lambda = chol(D) / sigma,
# by columns) as "theta", so that the tests can evaluate the likelihood at lme4's optimum.
#
# reml_short.csv is the case where statsmodels' MixedLM stops short (issue 11): with
# method="lbfgs" it fails to converge (REML log-likelihood -621.962), with "powell" it
# reports convergence at -621.4131; lme4's optimum is -621.41155.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

here <- "tests/reference"

py_names <- function(x) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  x <- gsub("scheduleguided", "schedule[T.guided]", x, fixed = TRUE)
  gsub("^sexM$", "sex[T.M]", x)
}

summarise <- function(fit, d) {
  fe <- fixef(fit)
  se <- sqrt(diag(as.matrix(vcov(fit))))
  vc <- as.data.frame(VarCorr(fit))
  pick <- function(v1, v2 = NA) {
    row <- vc[vc$grp == "patient_id" & vc$var1 == v1 & (if (is.na(v2)) is.na(vc$var2) else vc$var2 %in% v2), ]
    if (nrow(row) == 0) return(NULL)
    row$sdcor
  }
  components <- list(intercept_sd = pick("(Intercept)"), slope_sd = pick("week"),
                     intercept_slope_corr = pick("(Intercept)", "week"), residual_sd = sigma(fit))
  components <- components[!vapply(components, is.null, logical(1))]
  grad <- fit@optinfo$derivs$gradient
  list(
    fixed_effects = as.list(setNames(unname(fe), py_names(names(fe)))),
    std_errors = as.list(setNames(unname(se), py_names(names(fe)))),
    variance_components = components,
    loglik = as.numeric(logLik(fit)),
    theta = as.list(unname(getME(fit, "theta"))),
    reml = isREML(fit),
    n_observations = nobs(fit),
    n_patients = length(unique(d$patient_id)),
    lme4_max_abs_gradient = if (is.null(grad)) NULL else max(abs(grad)),
    lme4_messages = as.list(c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings))
  )
}

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
read <- function(name) {
  d <- read.csv(file.path(here, name), stringsAsFactors = FALSE)
  d$schedule <- factor(d$schedule, levels = c("weekly", "guided"))
  if ("sex" %in% names(d)) d$sex <- factor(d$sex, levels = c("F", "M"))
  d
}
u <- read("reml_data.csv")
s <- read("reml_short.csv")
fixed <- "y ~ week * schedule + age_years + sex"

out <- list(
  generated_by = "tests/reference/reml.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  control = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e5))",
  unbalanced_slope = summarise(lmer(as.formula(paste(fixed, "+ (week | patient_id)")), data = u, REML = TRUE,
                                    control = tight), u),
  unbalanced_intercept = summarise(lmer(as.formula(paste(fixed, "+ (1 | patient_id)")), data = u, REML = TRUE,
                                        control = tight), u),
  unbalanced_slope_ml = summarise(lmer(as.formula(paste(fixed, "+ (week | patient_id)")), data = u,
                                       REML = FALSE, control = tight), u),
  short_slope = summarise(lmer(y ~ week * schedule + (week | patient_id), data = s, REML = TRUE, control = tight), s),
  short_intercept = summarise(lmer(y ~ week * schedule + (1 | patient_id), data = s, REML = TRUE, control = tight), s)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "reml_values.json"))
cat("wrote", file.path(here, "reml_values.json"), "\n")
