from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "adapters"
    verbose_name = "Fan-out"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        # Registers the targets check, connects the receivers to the LRS's signals, registers
        # the Celery tasks (queued by name: adapters.delivery.queue).
        from adapters.alerts import tasks as alert_tasks  # noqa: F401
        from adapters.config import ConfigProblem
        from adapters.delivery import receivers, tasks  # noqa: F401
        from adapters.identity.resolution import forget_email_keys
        from adapters.marketplace.adapter import field_mapping
        from adapters.ops import instruments  # noqa: F401  (counts the statements stored)
        from adapters.privacy import tasks as privacy_tasks  # noqa: F401
        from adapters.reconciliation import tasks as reconciliation_tasks  # noqa: F401
        from adapters.rules.field_mapping import FieldMappingError
        from adapters.rules.pseudonyms import pseudonym
        from adapters.slack import users as slack_users
        from adapters.targets import checks  # noqa: F401
        from adapters.targets.file import read_targets_file
        from lrs.statements.erasure import forget_people_too

        # What the fan-out remembers of learners goes when a person is erased (lrs.statements.erasure).
        forget_people_too(pseudonym.cache_clear)
        forget_people_too(forget_email_keys)
        forget_people_too(slack_users.forget)

        try:
            field_mapping()  # the marketplace CSV mapping template, validated at start-up
        except FieldMappingError as problem:
            raise ImproperlyConfigured(f"marketplace field mapping: {problem}") from None
        if settings.LRS_TARGETS_FILE:
            # Fail at start-up, naming the entry and field, rather than at the first statement.
            try:
                read_targets_file(settings.LRS_TARGETS_FILE)
            except ConfigProblem as problem:
                raise ImproperlyConfigured(f"LRS_TARGETS_FILE: {problem}") from None
