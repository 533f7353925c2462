"""Experiment reports: ``llm-search report <experiment dir>`` writes report.html and report.md.

Example:
    >>> from llm_search.report import load_experiment, write_report  # doctest: +SKIP
    >>> write_report(load_experiment("~/ray_results/my_experiment"), "out")  # doctest: +SKIP
"""

from llm_search.report.experiment import ExperimentData, TrialData, load_experiment
from llm_search.report.render import write_report

__all__ = ["ExperimentData", "TrialData", "load_experiment", "write_report"]
