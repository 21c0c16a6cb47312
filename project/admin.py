from django.contrib import admin

from project.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "created_by", "assignee", "done", "created_at")
    list_filter = ("done",)
    search_fields = ("title",)
