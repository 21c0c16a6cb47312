"""The demo's triggers: model changes that become live notifications."""

from notifications.triggers import Notice, on_create, on_update
from project.models import Task


@on_create(Task)
def task_assigned(task: Task) -> Notice | None:
    if task.assignee_id == task.created_by_id:
        return None
    return Notice(recipient=task.assignee, actor=task.created_by, verb="assigned you", action_object=task)


@on_update(Task, fields=["done"])
def task_completed(task: Task, changes: dict) -> Notice | None:
    _, done = changes["done"]
    if not done or task.assignee_id == task.created_by_id:
        return None
    return Notice(recipient=task.created_by, actor=task.assignee, verb="completed", action_object=task, level="success")
