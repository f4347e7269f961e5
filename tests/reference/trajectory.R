# Reference values for outcomes.models.trajectory (tests/test_trajectory.py).
#
# Run from the repository root:
#     Rscript tests/reference/trajectory.R
# It reads  tests/reference/trajectory_data.csv  and writes
#           tests/reference/trajectory_values.json
#
# Last run with R 4.2.2 (Debian), lme4 1.1-31, Matrix 1.5-3, jsonlite 1.8.4.
#
# trajectory_data.csv was made once, in Python, with
#     from outcomes.simulate import simulate
#     from outcomes.cohort import Cohort
#     from outcomes.models.trajectory import trajectory_data
#     sim = simulate(300, seed=11)
#     c = Cohort.from_frames(sim.patients, sim.assessments, sessions=sim.sessions,
#                            prescriptions=sim.prescriptions)
#     trajectory_data(c).to_csv("tests/reference/trajectory_data.csv", index=False,
#                               float_format="%.10g", lineterminator="\n")
# (floats rounded to 10 significant digits; both R and the tests fit the file as
# written, so the rounding does not enter the comparison).
#
# Models (REML, reference schedule 'weekly'):
#   slope:     y ~ week * schedule + adherence_between + adherence_within + level + (week | patient_id)
#   intercept: y ~ week * schedule + adherence_between + adherence_within + level + (1 | patient_id)
# Term names are written as statsmodels/patsy spells them ("(Intercept)" -> "Intercept",
# "scheduleguided" -> "schedule[T.guided]").
# lme4 may report "Model failed to converge" for the slope model; STACK.md found this a
# false positive (statsmodels reaches an equal or higher REML likelihood). The messages
# are kept in the JSON under "lme4_messages".

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

here <- "tests/reference"
d <- read.csv(file.path(here, "trajectory_data.csv"), stringsAsFactors = FALSE)
d$schedule <- factor(d$schedule, levels = c("weekly", "guided"))

py_names <- function(x) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  gsub("scheduleguided", "schedule[T.guided]", x, fixed = TRUE)
}

summarise <- function(fit) {
  fe <- fixef(fit)
  se <- sqrt(diag(as.matrix(vcov(fit))))
  vc <- as.data.frame(VarCorr(fit))
  sd_of <- function(v1, v2 = NA) {
    row <- vc[vc$grp == "patient_id" & vc$var1 == v1 & (if (is.na(v2)) is.na(vc$var2) else vc$var2 %in% v2), ]
    if (nrow(row) == 0) return(NULL)
    row$sdcor
  }
  components <- list(
    intercept_sd = sd_of("(Intercept)"),
    slope_sd = sd_of("week"),
    intercept_slope_corr = sd_of("(Intercept)", "week"),
    residual_sd = sigma(fit)
  )
  components <- components[!vapply(components, is.null, logical(1))]
  list(
    fixed_effects = as.list(setNames(unname(fe), py_names(names(fe)))),
    std_errors = as.list(setNames(unname(se), py_names(names(fe)))),
    variance_components = components,
    reml_loglik = as.numeric(logLik(fit)),
    n_observations = nobs(fit),
    n_patients = length(unique(d$patient_id)),
    lme4_messages = as.list(c(fit@optinfo$conv$lme4$messages, fit@optinfo$warnings))
  )
}

fixed <- "y ~ week * schedule + adherence_between + adherence_within + level"
# A tight optimiser tolerance, so the reference is the REML optimum rather than lme4's
# default stopping point: with the default control the slope model's schedule[T.guided]
# estimate differed from this one by 6e-5 (relative) at a 1e-7 lower REML log-likelihood.
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
slope <- lmer(as.formula(paste(fixed, "+ (week | patient_id)")), data = d, REML = TRUE, control = tight)
intercept <- lmer(as.formula(paste(fixed, "+ (1 | patient_id)")), data = d, REML = TRUE, control = tight)

out <- list(
  generated_by = "tests/reference/trajectory.R",
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  reference_schedule = "weekly",
  control = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e5))",
  slope = summarise(slope),
  intercept = summarise(intercept)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "trajectory_values.json"))
cat("wrote", file.path(here, "trajectory_values.json"), "\n")
