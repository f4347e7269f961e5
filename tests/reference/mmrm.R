# Reference values for outcomes.models.mmrm (tests/test_mmrm.py).
#
# Run from the repository root:
#     Rscript tests/reference/mmrm.R
# It writes tests/reference/mmrm_data.csv (the synthetic trial, made here with a
# fixed seed) and tests/reference/mmrm_values.json (the fits below).
#
# Last run with R 4.2.2 (Debian), nlme 3.1-162, emmeans 1.8.4-1, numDeriv, jsonlite
# (versions also in the JSON).
#
# The data: 150 patients, arms placebo / low / high (50 each; reference placebo), a
# baseline, age and sex, and the outcome at weeks 2, 4, 8 and 12 (visit_index 1-4),
# drawn from a multivariate normal with an unstructured covariance (SDs 6, 7, 8, 9).
# Missing values (y = NA, the row kept): monotone dropout after each visit (more
# likely when the last value was high: missing at random) and intermittent missed
# visits.
#
# Models (all REML, na.action = na.omit, arm levels placebo, high, low):
#   us:      gls(y ~ baseline + visit * arm, corSymm(~ visit_index | id), varIdent(~ 1 | visit))
#   us_cov:  gls(y ~ baseline + visit * arm + baseline:visit + age + sex, same covariance)
#   cs:      gls(y ~ baseline + visit * arm, corCompSymm(~ 1 | id))
#   ar1:     gls(y ~ baseline + visit * arm, corAR1(~ visit_index | id))
# Then emmeans(fit, ~ arm | visit) (numeric covariates at their mean over the rows
# used, sex averaged with equal weights: emmeans' defaults) and
# contrast(emm, "trt.vs.ctrl", adjust = "none"). Degrees of freedom: emmeans' mode
# "satterthwaite" for gls (analytic derivative of vcov by numDeriv, the variance
# parameters' covariance from nlme's apVar). glsControl(natural = FALSE) so that
# apVar is on the scale of coef(modelStruct), as emmeans' analytic Satterthwaite
# needs (with the default natural = TRUE emmeans falls back to a simulation).
# nlme's apVar is the inverse of a finite-difference Hessian (fdHess, relative step
# 6e-6) of the REML log-likelihood: coarse enough that the df it gives move by up to
# 1 % with the step. So the df are also written with apVar replaced by the inverse of
# numDeriv::hessian (Richardson extrapolation) of the same nlme function
# (glsApVar.fullGlsLogLik): "df_accurate". Both are stored.
# Term names are written as the Python module spells them: Intercept, baseline,
# week[T.4], arm[T.high], week[T.4]:arm[T.high], baseline:week[T.4], age, sex[T.M].

suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
})

here <- "tests/reference"

# ---- data ------------------------------------------------------------------
set.seed(20261130)
n_per_arm <- 50
arms <- c("placebo", "low", "high")
weeks <- c(2, 4, 8, 12)
sds <- c(6, 7, 8, 9)
R <- matrix(c(1.00, 0.60, 0.50, 0.40,
              0.60, 1.00, 0.70, 0.50,
              0.50, 0.70, 1.00, 0.75,
              0.40, 0.50, 0.75, 1.00), 4, 4)
S <- diag(sds) %*% R %*% diag(sds)
C <- chol(S)
n <- n_per_arm * length(arms)
arm <- rep(arms, each = n_per_arm)
baseline <- round(rnorm(n, 50, 8), 1)
age <- round(runif(n, 20, 70))
sex <- ifelse(runif(n) < 0.5, "F", "M")
trend <- c(-3, -6, -8, -9)
effect <- list(placebo = c(0, 0, 0, 0), low = c(-1, -2, -3, -3.5), high = c(-2, -3.5, -5, -6))
E <- matrix(rnorm(n * 4), n, 4) %*% C
Y <- matrix(NA_real_, n, 4)
for (i in seq_len(n)) {
  Y[i, ] <- 50 + 0.6 * (baseline[i] - 50) + trend + effect[[arm[i]]] + 0.05 * (age[i] - 45) +
    ifelse(sex[i] == "M", 1, 0) + E[i, ]
}
Y <- round(Y, 2)
# monotone dropout: after visit j, leave with probability rising with the last value (MAR)
observed <- matrix(TRUE, n, 4)
for (i in seq_len(n)) {
  for (j in 2:4) {
    p_drop <- plogis(-3 + 0.08 * (Y[i, j - 1] - 45))
    if (runif(1) < p_drop) { observed[i, j:4] <- FALSE; break }
  }
}
# intermittent missed visits (not the first visit of anyone, never all visits)
miss <- matrix(runif(n * 4) < 0.06, n, 4)
miss[, 1] <- FALSE
observed <- observed & !miss
Yobs <- ifelse(observed, Y, NA)
d <- data.frame(id = rep(sprintf("P%03d", seq_len(n)), each = 4),
                arm = rep(arm, each = 4), week = rep(weeks, n), visit_index = rep(1:4, n),
                baseline = rep(baseline, each = 4), age = rep(age, each = 4), sex = rep(sex, each = 4),
                y = as.vector(t(Yobs)))
write.csv(d, file.path(here, "mmrm_data.csv"), row.names = FALSE, na = "NA")

# ---- fits --------------------------------------------------------------------
d <- read.csv(file.path(here, "mmrm_data.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("placebo", "high", "low"))
d$visit <- factor(d$week, levels = weeks)
d$sex <- factor(d$sex, levels = c("F", "M"))
d <- d[!is.na(d$y), ]  # what na.omit keeps; emmeans needs the rows the model used
ctl <- glsControl(maxIter = 500, msMaxIter = 2000, tolerance = 1e-10, msTol = 1e-13,
                  natural = FALSE)

py_names <- function(x) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  for (w in weeks[-1]) x <- gsub(paste0("visit", w, "(?![0-9])"), paste0("week[T.", w, "]"), x, perl = TRUE)
  for (a in c("high", "low")) x <- gsub(paste0("arm", a), paste0("arm[T.", a, "]"), x, fixed = TRUE)
  x <- sub("^sexM$", "sex[T.M]", x)
  x <- sub("^week\\[T\\.([0-9]+)\\]:baseline$", "baseline:week[T.\\1]", x)
  x
}

# apVar from an accurate Hessian of nlme's own REML log-likelihood in (coef(modelStruct), log sigma)
accurate_apvar <- function(fit) {
  glsSt <- fit$modelStruct
  attr(glsSt, "fixedSigma") <- FALSE
  X <- model.matrix(formula(fit), data = d)  # d is sorted by id, as gls sorts it
  conLin <- list(Xy = cbind(X, d$y), dims = fit$dims, logLik = 0, sigma = 0, fixedSigma = FALSE)
  N <- fit$dims$N - fit$dims$REML * fit$dims$p
  Pars <- c(coef(glsSt), lSigma = log(fit$sigma))
  ll <- function(P) nlme:::glsApVar.fullGlsLogLik(P, glsSt, conLin, fit$dims, N)
  A <- solve(-numDeriv::hessian(ll, Pars))
  dimnames(A) <- list(names(Pars), names(Pars))
  attr(A, "Pars") <- Pars
  attr(A, "natural") <- FALSE
  fit$apVar <- A
  fit
}

summarise <- function(fit, name) {
  stopifnot(!is.unsorted(d$id))
  cf <- summary(fit)$tTable
  emm <- emmeans(fit, ~ arm | visit, data = d, mode = "satterthwaite")
  mode_msg <- attr(emm@dffun, "mesg")
  em <- as.data.frame(summary(emm))
  ct <- as.data.frame(summary(contrast(emm, "trt.vs.ctrl", adjust = "none"), infer = c(TRUE, TRUE)))
  emm_acc <- emmeans(accurate_apvar(fit), ~ arm | visit, data = d, mode = "satterthwaite")
  em_acc <- as.data.frame(summary(emm_acc))
  ct_acc <- as.data.frame(summary(contrast(emm_acc, "trt.vs.ctrl", adjust = "none")))
  stopifnot(all.equal(em_acc$emmean, em$emmean), all.equal(ct_acc$SE, ct$SE))
  # the marginal covariance of a patient with all four visits
  full_id <- names(which(table(d$id) == 4))[1]
  V <- getVarCov(fit, individual = full_id)
  list(
    model = name,
    formula = deparse(formula(fit)),
    terms = py_names(rownames(cf)),
    estimate = unname(cf[, "Value"]),
    std_error = unname(cf[, "Std.Error"]),
    loglik = as.numeric(logLik(fit)),
    n_obs = fit$dims$N,
    covariance = matrix(as.numeric(V), nrow(V)),
    df_mode = mode_msg,
    emmeans = list(arm = as.character(em$arm), week = as.numeric(as.character(em$visit)),
                   estimate = em$emmean, std_error = em$SE, df = em$df, df_accurate = em_acc$df),
    contrasts = list(contrast = as.character(ct$contrast), week = as.numeric(as.character(ct$visit)),
                     estimate = ct$estimate, std_error = ct$SE, df = ct$df, df_accurate = ct_acc$df,
                     ci_lower = ct$lower.CL, ci_upper = ct$upper.CL, p_value = ct$p.value)
  )
}

fits <- list(
  us = gls(y ~ baseline + visit * arm, data = d, method = "REML", na.action = na.omit,
           correlation = corSymm(form = ~ visit_index | id), weights = varIdent(form = ~ 1 | visit),
           control = ctl),
  us_cov = gls(y ~ baseline + visit * arm + baseline:visit + age + sex, data = d, method = "REML",
               na.action = na.omit, correlation = corSymm(form = ~ visit_index | id),
               weights = varIdent(form = ~ 1 | visit), control = ctl),
  cs = gls(y ~ baseline + visit * arm, data = d, method = "REML", na.action = na.omit,
           correlation = corCompSymm(form = ~ 1 | id), control = ctl),
  ar1 = gls(y ~ baseline + visit * arm, data = d, method = "REML", na.action = na.omit,
            correlation = corAR1(form = ~ visit_index | id), control = ctl)
)
out <- lapply(names(fits), function(nm) summarise(fits[[nm]], nm))
names(out) <- names(fits)
out$versions <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                     emmeans = as.character(packageVersion("emmeans")),
                     numDeriv = as.character(packageVersion("numDeriv")),
                     jsonlite = as.character(packageVersion("jsonlite")))
out$n_patients_with_data <- length(unique(d$id))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "mmrm_values.json"))
cat("observed per arm and week:\n")
print(with(d, table(arm, week)))
for (nm in names(fits)) cat(nm, "logLik", format(as.numeric(logLik(fits[[nm]])), digits = 12), "df mode",
                            out[[nm]]$df_mode, "\n")
