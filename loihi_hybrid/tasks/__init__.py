"""The networks, one registered :class:`Task` each (see ``base``); ``get_task(name)`` finds them."""
from .base import Task, get_task, load_config, make_task, register, task_names

__all__ = ["Task", "get_task", "load_config", "make_task", "register", "task_names"]
