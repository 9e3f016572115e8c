"""A simulator process for tests/sim/test_compiled.py: one JSON request a line on stdin, one
RunResult JSON a line on stdout. Which core it runs is decided by TCPQ_PURE in its environment;
its first line says which it got."""

import json
import sys
from pathlib import Path

from tcpq.report.json import dumps, run_result_dict
from tcpq.scenario import load_scenario, scenario_from_dict
from tcpq.sim.runner import simulate
from tcpq.simcore import compiled


def main() -> None:
    print(json.dumps({"compiled": compiled()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "file" in request:
            scenario = load_scenario(Path(request["file"]))
        else:
            scenario = scenario_from_dict(request["scenario"])
        result = simulate(scenario, draw_seed=request.get("draw_seed"))
        print(dumps(run_result_dict(result)).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
