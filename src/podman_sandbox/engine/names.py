"""The names of the containers a sandbox NAME uses besides NAME itself (cheap to import:
the survey's first look asks Podman about them before the planner is loaded)."""


def next_name(name: str) -> str:
    """The replacement container's name until it has proven it starts."""
    return f"{name}-next"


def setup_container_name(name: str) -> str:
    """The container setup steps run in (and a squash is made through)."""
    return f"{name}-setup"


def survey_names(name: str, image: str) -> list[str]:
    """What the survey's one inspect asks about: the sandbox, its image, and the
    leftovers of a killed run (engine/apply.survey)."""
    return [name, image, setup_container_name(name), next_name(name)]
