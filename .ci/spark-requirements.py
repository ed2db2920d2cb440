"""Print the requirements of the Spark environment, one a line, read from pyproject.toml.

dbt on Spark runs in its own virtual environment (make spark-env) holding only dbt-core
and the ``spark`` extra: with pyspark beside Great Expectations, importing GX ended
processes started without a script file. Reading the pins from pyproject.toml keeps the
two environments on the same dbt-core.
"""

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser.
    from pip._vendor import tomli as tomllib

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
    "project"
]
core = [r for r in project["dependencies"] if re.match(r"dbt-core\b", r)]
spark = project["optional-dependencies"]["spark"]
if not core or not spark:
    sys.exit("pyproject.toml names no dbt-core pin or no spark extra")
print("\n".join([*core, *spark]))
