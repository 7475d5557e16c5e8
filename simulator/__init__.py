"""deploysim's engine: experiment config, workload, serving, recording, runner.

Public API (usable from a notebook)::

    import simulator
    exp = simulator.load_experiment("experiments/mmc-validation.yaml")
    res = simulator.run(exp)
    res.summary          # one row per scenario x replication
    res.timeseries       # levels on the sampling grid
"""

from simulator.config import SLO, Experiment, Scenario, Serving
from simulator.engine import RunResult, run_one
from simulator.loading import InputError, load_experiment
from simulator.results import Results, run, write_output

__all__ = [
    "Experiment",
    "Scenario",
    "Serving",
    "SLO",
    "InputError",
    "load_experiment",
    "run",
    "run_one",
    "Results",
    "RunResult",
    "write_output",
]
