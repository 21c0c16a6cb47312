from django.contrib.auth.models import AbstractBaseUser

from project.models import Task


class TaskNotFound(Exception):
    pass


def task_create(*, created_by: AbstractBaseUser, assignee: AbstractBaseUser, title: str) -> Task:
    return Task.objects.create(created_by=created_by, assignee=assignee, title=title.strip())


def task_complete(*, user: AbstractBaseUser, task_id: int) -> Task:
    task = Task.objects.filter(pk=task_id, assignee=user).first()
    if task is None:
        raise TaskNotFound(task_id)
    if not task.done:
        task.done = True
        task.save(update_fields=["done"])
    return task
