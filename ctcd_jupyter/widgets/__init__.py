"""ipywidgets views of the workspace: services with start/stop/logs/predict controls, schedules
with pause/resume/remove and their runs, and the monitor of a served model. Importing this
module imports ipywidgets.
"""

from __future__ import annotations

from .monitor import MonitorPanel
from .runs import RunsView
from .schedules import SchedulesPanel
from .services import ServicesPanel

__all__ = ["MonitorPanel", "RunsView", "SchedulesPanel", "ServicesPanel"]
