"""The statistics every stage shares, as pure functions over arrays.

``score/`` (how sure one run's numbers are) and ``compare/`` (did a change make a run worse)
both build on this module; it imports nothing from evalkit, and numpy/scipy only inside the
functions, so ``evalkit --help`` stays light. Everything that draws random numbers takes a
seeded generator: the same data always gives the same numbers.

Cases are clusters. A case's repeats (``-n N``) are not independent samples, so every
interval and test here either treats whole cases as the unit (the bootstrap resamples cases,
the sign-flip test flips cases) or corrects for the clustering with a design effect.

What is here, and the method each uses:

* proportions: ``wilson`` (Wilson 1927 score interval), ``clustered_wilson`` (Wilson on the
  effective sample size n/deff, Kish 1965; Rao & Scott 1992);
* the case-level bootstrap: ``resample_cases`` (the one resampling loop), ``bootstrap_means``,
  ``cluster_bootstrap_ci``, ``mean_interval``, ``percentile_interval`` (Efron & Tibshirani
  1993, ch. 13; cases as the resampling unit, as for hierarchical data in Davison & Hinkley
  1997, ch. 3);
* paired tests: ``mcnemar_exact`` (McNemar 1947, exact binomial form), ``sign_flip_exact`` and
  ``sign_flip_test`` (Fisher's randomisation test of a paired sum, Fisher 1935, ch. 3),
  ``holm`` (Holm 1979);
* paired intervals: ``newcombe_paired_ci`` (Newcombe 1998, method 10) and
  ``newcombe_clustered_ci`` (the same on a Rao–Scott adjusted table, for repeats);
* power: ``mde_pass_rate`` (Connor 1987) and ``mde_continuous`` (normal approximation).
"""

from __future__ import annotations

from evalkit.stats.bootstrap import (
    bootstrap_means,
    cluster_bootstrap_ci,
    cluster_mean_interval,
    cluster_totals,
    mean_interval,
    percentile_interval,
    resample_cases,
)
from evalkit.stats.core import (
    ALPHA,
    CHUNK_CELLS,
    MIN_BOOTSTRAP_CASES,
    N_FLIPS,
    N_RESAMPLES,
    POWER,
    SEED,
    Z95,
    rng_for,
    z_quantile,
)
from evalkit.stats.power import (
    mde_continuous,
    mde_pass_rate,
)
from evalkit.stats.proportions import (
    clustered_wilson,
    newcombe_clustered_ci,
    newcombe_paired_ci,
    wilson,
)
from evalkit.stats.significance import (
    holm,
    mcnemar_exact,
    sign_flip_exact,
    sign_flip_test,
)

__all__ = [
    "ALPHA",
    "CHUNK_CELLS",
    "MIN_BOOTSTRAP_CASES",
    "N_FLIPS",
    "N_RESAMPLES",
    "POWER",
    "SEED",
    "Z95",
    "bootstrap_means",
    "cluster_bootstrap_ci",
    "cluster_mean_interval",
    "cluster_totals",
    "clustered_wilson",
    "holm",
    "mcnemar_exact",
    "mde_continuous",
    "mde_pass_rate",
    "mean_interval",
    "newcombe_clustered_ci",
    "newcombe_paired_ci",
    "percentile_interval",
    "resample_cases",
    "rng_for",
    "sign_flip_exact",
    "sign_flip_test",
    "wilson",
    "z_quantile",
]
