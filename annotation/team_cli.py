"""`vner studio` commands of the annotation team: ``users``, ``queue``, ``agreement``, ``review``, ``retrain``.

They share the helpers of ``annotation/cli.py`` (connection, project lookup, one-line errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from annotation.cli import PORT_HELP, PROJECT_HELP, _connect, _fail, _project_id

users = typer.Typer(help="Team accounts on the Label Studio organization.", no_args_is_help=True)


@users.command("add")
def users_add(
    email: str = typer.Argument(..., help="E-mail of the new account (its login)."),
    role: str = typer.Option("annotator", "--role", help="annotator or reviewer (what `vner studio` does with "
                             "their work; Label Studio Community gives every account the same rights)."),
    show_password: bool = typer.Option(False, "--show-password", help="Print the generated password."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Create an account with a generated password (kept in the team file, 0600), or change its role."""
    from annotation.client import StudioClientError
    from annotation.settings import team_file
    from annotation.team import TeamError, add_member

    client = _connect(port)
    try:
        member, created = add_member(client, email, role)
    except (TeamError, StudioClientError) as exc:
        _fail(str(exc))
    finally:
        client.close()
    if created:
        typer.echo(f"created {member.email} (user {member.user_id}) as {member.role}; password stored in {team_file()}")
    else:
        typer.echo(f"{member.email} (user {member.user_id}) is now {member.role}")
    if show_password:
        typer.echo(f"password: {member.password}")
    typer.echo(f"log in at {client.url}/user/login/")


@users.command("list")
def users_list(port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP)) -> None:
    """The organization's accounts with their role (passwords are not shown)."""
    from annotation.client import StudioClientError
    from annotation.settings import load_settings, team_file
    from annotation.team import org_users, read_team

    client = _connect(port)
    try:
        accounts = org_users(client)
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    team = read_team()
    settings = load_settings(generate=False)
    admin = (settings.credentials.username if settings.credentials else "").lower()
    typer.echo(f"users of {client.url} (passwords: admin's in the config file or environment, the team's in "
               f"{team_file()})")
    typer.echo(f"{'id':>5}  {'e-mail':<36}  {'role':<10}  last activity")
    for user in sorted(accounts, key=lambda u: u.id):
        email = (user.email or "").lower()
        member = team.get(email)
        role = member.role if member else ("admin" if email == admin else "unknown (not made by vner)")
        typer.echo(f"{user.id:>5}  {email:<36}  {role:<10}  {str(user.last_activity or '')[:19]}")


def studio_queue(
    model: str = typer.Option(..., "--model", "-m", help="Model directory (spaCy or transformers) that scores and "
                              "drafts the documents."),
    store: Optional[Path] = typer.Option(None, "--store", help="Corpus store or gold file whose new documents "
                                         "are queued too (default: only the project's unlabeled tasks)."),
    strategy: str = typer.Option("uncertainty", "--strategy", help="uncertainty, random or diverse."),
    measure: Optional[str] = typer.Option(None, "--measure", help="Uncertainty measure: margin (the default: "
                                          "sum over the document's decisions) or margin-mean (per decision)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Push at most N new documents of the store "
                                        "(the most useful ones); the project's tasks are all re-scored."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random strategy."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Draft and score the unlabeled documents with a model; annotators get the most useful first."""
    from annotation.cli import _load_documents, _schema
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from annotation.queue import QUEUE_VIEW, queue_documents
    from annotation.selection import STRATEGIES
    from annotation.uncertainty import DEFAULT_MEASURE, MEASURES, UncertaintyError
    from models import load_model
    from models.card import ModelDirError

    measure = measure or DEFAULT_MEASURE
    if strategy not in STRATEGIES:
        _fail(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}", 2)
    if measure not in MEASURES:
        _fail(f"--measure must be one of {', '.join(MEASURES)}, not {measure!r}", 2)
    schema = _schema()
    try:
        loaded = load_model(model)
    except ModelDirError as exc:
        _fail(str(exc))
    docs = _load_documents(store)[0] if store is not None else []
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        report = queue_documents(client, project_id, loaded, schema, docs=docs, strategy=strategy, measure=measure,
                                 limit=limit, seed=seed, on_step=typer.echo)
    except (StudioClientError, UncertaintyError, ValueError, OSError) as exc:
        _fail(str(exc))
    finally:
        client.close()
    typer.echo(f"queued {len(report.ranked)} tasks by {strategy}"
               f"{f' ({measure})' if strategy != 'random' else ''} with drafts of {report.model_version}: "
               f"{len(report.pushed)} new, {len(report.updated)} re-scored; {report.labeled} labeled tasks left as "
               "they are")
    if report.left_out:
        typer.echo(f"{len(report.left_out)} store documents beyond --limit were not pushed")
    for doc_id, task_id, usefulness in report.ranked[:10]:
        typer.echo(f"  {usefulness:10.4f}  task {task_id}  {doc_id}")
    typer.echo(f"annotators: open {client.url}/projects/{project_id}/data?tab={report.view_id} (tab {QUEUE_VIEW!r}) "
               "and press 'Label Tasks As Displayed'")


def _team_view(client) -> tuple[dict, set]:
    """Readable names of the organization's users (by id) and the ids of the team's reviewers."""
    from annotation.team import org_users, read_team, reviewer_ids

    names = {user.id: (user.email or f"user {user.id}") for user in org_users(client)}
    return names, reviewer_ids(read_team())


def studio_agreement(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for agreement.html and agreement.json "
                                       "(default: <work dir>/agreement)."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of the tables."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Strict and partial agreement per label between annotators who labeled the same tasks, and on their arrows."""
    import json

    from rich.table import Table

    from annotation.agreement import agreement_html, agreement_json, measure_agreement, partial_f1
    from annotation.cli import _schema
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from corpus.console import console
    from corpus.paths import work_dir
    from corpus.schema import with_default_relations

    schema = _schema()
    title = project or DEFAULT_PROJECT_TITLE
    client = _connect(port)
    try:
        project_id = _project_id(client, title)
        tasks = client.export(project_id, predictions=False)
        names, reviewers = _team_view(client)
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    result = measure_agreement(tasks, schema.names, names, skip_users=reviewers,
                               relation_types=with_default_relations(schema).relation_names)
    report = agreement_json(result)
    out = out or work_dir() / "agreement"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agreement.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "agreement.html").write_text(agreement_html(result, f"Agreement in {title!r}"), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
        return
    if not result.documents:
        typer.echo("no task has submitted annotations of two or more annotators yet")
    table = Table(title=f"agreement on {len(result.documents)} tasks labeled by two or more annotators")
    for column in ("", "tasks", "strict F1", "partial F1"):
        table.add_column(column, justify="right" if column else "left")
    rows = [("all pairs", result.overall), *((f"{a} × {b}", s) for (a, b), s in result.pairs.items()),
            *result.annotators.items()]
    for name, scores in rows:
        table.add_row(name, str(scores.n_docs), f"{scores.micro()['f1']:.3f}", f"{partial_f1(scores):.3f}")
    console.print(table)
    labels = Table(title="per label, all pairs (per pair and per document: the HTML and JSON reports)")
    for column in ("label", "spans", "strict F1", "partial F1"):
        labels.add_column(column, justify="left" if column == "label" else "right")
    per_label = result.overall.per_label()
    for label in schema.names:
        n = result.overall.gold[label] + result.overall.pred[label]
        if n:
            labels.add_row(label, str(n), f"{per_label[label]['f1']:.3f}", f"{partial_f1(result.overall, label):.3f}")
    console.print(labels)
    if result.relations.n_docs:
        links = result.relations.micro()
        typer.echo(f"arrows, all pairs, on {result.relations.n_docs} tasks where both annotators drew some: "
                   f"P {links['precision']:.3f}, R {links['recall']:.3f}, F1 {links['f1']:.3f} (per type: the reports)")
    typer.echo(f"{len(result.disagreements)} disagreements listed in context: {out / 'agreement.html'} "
               f"(JSON: {out / 'agreement.json'})")


def studio_review(
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Draft the disputed tasks for a reviewer; mark reviewers' annotations of them as ground truth."""
    from annotation.cli import _schema
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from annotation.review import review

    schema = _schema()
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        names, reviewers = _team_view(client)
        report = review(client, project_id, list(schema.names), names, reviewers)
    except StudioClientError as exc:
        _fail(str(exc))
    finally:
        client.close()
    if not reviewers:
        typer.secho("the team has no reviewer yet: `vner studio users add EMAIL --role reviewer`",
                    fg=typer.colors.YELLOW)
    for doc_id, task_id, annotation_id, reviewer in report.settled:
        typer.echo(f"settled task {task_id} ({doc_id}): annotation {annotation_id} of {reviewer} is ground truth")
    for doc_id, task_id, agreed, disputed, arrows, arrows_out in report.prepared:
        typer.echo(f"to review: task {task_id} ({doc_id}): {agreed} agreed spans, {disputed} disputed; "
                   f"{arrows} agreed arrows, {arrows_out} disputed "
                   f"-> {client.url}/projects/{project_id}/data?task={task_id}")
    typer.echo(f"{len(report.prepared)} disputed tasks drafted for review (prediction {report.model_version!r}), "
               f"{len(report.settled)} settled now, {len(report.already)} settled before")


def _backends_of(client, project_id: int) -> list:
    from annotation.client import _api

    with _api(f"listing the ML backends of project {project_id}"):
        return list(client.sdk.ml.list(project=project_id))


def _backend_model(backends: list, credentials) -> Optional[str]:
    """The model directory the project's first ML backend serves, when it answers."""
    from annotation.ml_backend import backend_http

    for backend in backends:
        try:
            with backend_http(credentials, timeout=5) as http:
                answer = http.get(f"{backend.url.rstrip('/')}/health")
            if answer.status_code == 200 and answer.json().get("model_path"):
                return str(answer.json()["model_path"])
        except Exception:  # noqa: BLE001 - a backend that is down just does not tell
            continue
    return None


def studio_retrain(
    base: Path = typer.Option(..., "--base", help="Gold file the project's annotations are merged with."),
    dev: Path = typer.Option(..., "--dev", help="Fixed dev file (never trained on): the models are compared on it."),
    engine: str = typer.Option("spacy", "--engine", help="spacy or transformers."),
    train_option: list[str] = typer.Option([], "--train-option", help="KEY=VALUE for the trainer, repeatable "
                                           "(e.g. max_epochs=10)."),
    current: Optional[str] = typer.Option(None, "--current", help="Model to beat (default: the one the project's "
                                          "ML backend serves, else the default model)."),
    strategy: str = typer.Option("uncertainty", "--strategy", help="Queue order after a promotion: uncertainty, "
                                 "random or diverse."),
    project: str = typer.Option(None, "--project", help=f"{PROJECT_HELP} (default: the vner project)"),
    port: Optional[int] = typer.Option(None, "--port", "-p", help=PORT_HELP),
) -> None:
    """Pull, merge with the base gold, train, compare on dev; a model not worse becomes the backend's and re-ranks
    the queue."""
    import httpx
    from rich.table import Table

    from annotation.cli import _schema
    from annotation.client import DEFAULT_PROJECT_TITLE, StudioClientError
    from annotation.ml_backend import backend_http, retitle_backends
    from annotation.queue import queue_documents
    from annotation.retrain import RetrainPlan, per_label_rows, retrain
    from annotation.settings import SettingsError, load_backend_credentials
    from corpus.console import console
    from corpus.jsonl import FormatError
    from models import load_model
    from models.card import ModelDirError
    from models.loading import default_model_dir
    from training import ENGINES, option_pair

    if engine not in ENGINES:
        _fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}", 2)
    for path in (base, dev):
        if not path.is_file():
            _fail(f"{path}: no such file", 2)
    try:
        plan = RetrainPlan(base, dev, engine, dict(option_pair(o) for o in train_option))
        credentials = load_backend_credentials(generate=False)
    except (ValueError, SettingsError) as exc:
        _fail(str(exc), 2)
    schema = _schema()
    client = _connect(port)
    try:
        project_id = _project_id(client, project or DEFAULT_PROJECT_TITLE)
        backends = _backends_of(client, project_id)
        if current is None:
            current = _backend_model(backends, credentials)
        if current is None:
            try:
                current = str(default_model_dir())
            except ModelDirError:
                current = None
        typer.echo(f"current model: {current or 'none'}")
        result = retrain(client, project_id, plan, current, say=typer.echo)
        table = Table(title=f"dev F1 ({dev}): current model -> new model")
        for column in ("label", "before", "after", "change"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for label, before, after in per_label_rows(result):
            change = "" if before is None else f"{after - before:+.3f}"
            table.add_row(label, "–" if before is None else f"{before:.3f}", f"{after:.3f}", change)
        console.print(table)
        counts = result.counts
        typer.echo(f"trained on {counts.base + counts.studio} documents: {counts.studio} from the project "
                   f"({counts.replaced} of them replace a base document with the same text), {counts.base} from "
                   f"{base.name}; {counts.dev_left_out} dev documents left out; {result.disputed} disputed tasks "
                   f"left out (`vner studio review`)")
        typer.echo(f"new model {result.model_dir} ({result.model_version}): "
                   f"{'PROMOTED' if result.promoted else 'not promoted'}: {result.reason}")
        if not result.promoted:
            return
        old_versions = set()
        for backend in backends:
            try:
                with backend_http(credentials, timeout=120) as http:
                    answer = http.post(f"{backend.url.rstrip('/')}/reload", json={"model": str(result.model_dir)})
            except httpx.HTTPError as exc:
                typer.secho(f"ML backend {backend.id} ({backend.url}) is not reachable: {exc}", fg=typer.colors.YELLOW)
                continue
            if answer.status_code == 200:
                old_versions.add(backend.title)
                typer.echo(f"ML backend {backend.id} ({backend.url}) now serves {answer.json()['model_version']}")
            else:
                typer.secho(f"ML backend {backend.id} ({backend.url}) did not reload: {answer.status_code} "
                            f"{answer.text[:200]}", fg=typer.colors.YELLOW)
        for old in old_versions:
            retitle_backends(client, project_id, old, result.model_version, credentials)
        queued = queue_documents(client, project_id, load_model(result.model_dir), schema, strategy=strategy)
        typer.echo(f"queue re-ranked by {strategy} with {queued.model_version}: {len(queued.ranked)} tasks")
    except (StudioClientError, FormatError, ModelDirError, ValueError, OSError) as exc:
        _fail(str(exc))
    finally:
        client.close()


def register(studio: typer.Typer) -> None:
    studio.add_typer(users, name="users")
    studio.command("queue")(studio_queue)
    studio.command("agreement")(studio_agreement)
    studio.command("review")(studio_review)
    studio.command("retrain")(studio_retrain)
