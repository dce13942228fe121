from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "adapters"
    verbose_name = "Fan-out"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from adapters import checks, receivers  # noqa: F401  (registers the check, connects the receivers)
        from adapters.config import ConfigProblem, read_targets_file
        from adapters.marketplace.adapter import field_mapping
        from adapters.rules.field_mapping import FieldMappingError

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
