"""Goals: reviewed YAML files of objectives, key results and milestones (dbt_project/goals/)."""
