"""Desk pages for moving in: a site's import page (an uploaded export, or a pasted
comment section) and the review of a paste (/desk/imports/ID). Owners only. Guards as in
web/desk.py; the import page alone takes a multipart body, up to IMPORT_MAX_BYTES
(web/guard.py), which Starlette spools to a temporary file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from parlour.domain import errors
from parlour.domain.model import Role, is_id
from parlour.importers import FORMATS, reader
from parlour.services import accounts, importing, restoring, reviews
from parlour.web.desk import Desk, form_text, signed_in
from parlour.web.errors import status_of

_CHUNK = 1 << 20


async def _owned_site(desk: Desk) -> str:
    user, site_id = desk.me, desk.request.path_params["site_id"]
    if await desk.call(lambda: accounts.require_site(desk.ctx, user, site_id)) is not Role.OWNER:
        raise errors.NotPermitted("Only the site's owner imports comments.")
    return str(site_id)


def _options(site_id: str, fmt: str, form: FormData, file_name: str | None) -> importing.Options:
    rules = [line.strip() for line in form_text(form, "map_url").splitlines() if line.strip()]
    return importing.Options(
        site_id=site_id, format=fmt, file_name=file_name,
        map_url=tuple(importing.parse_map_url(rule) for rule in rules),
        thread_key=form_text(form, "thread").strip() or None,
        writer_email=form_text(form, "writer_email").strip() or None,
        writer_name=form_text(form, "writer_name").strip() or None,
        dry_run=form_text(form, "dry_run") == "1", atomic=form_text(form, "atomic") == "1",
        restorer=restoring if fmt == "parlour" else None,  # the site exists: the desk is on it
    )  # fmt: skip


async def _spool(form: FormData, fmt: str) -> tuple[Path, str | None]:
    """The upload (or, for a paste, the text area) in a temporary file of its own."""
    upload = form.get("file")
    pasted = form_text(form, "pasted")
    has_file = isinstance(upload, UploadFile) and bool(upload.filename)
    if not has_file and not (fmt == "paste" and pasted.strip()):
        raise errors.InvalidInput("Choose the file to import.", field="file")
    name = upload.filename if isinstance(upload, UploadFile) and has_file else None
    suffix = Path(name).suffix[:16] if name else ".txt"
    handle, raw_path = tempfile.mkstemp(prefix="parlour-import-", suffix=suffix)
    path = Path(raw_path)
    try:
        with os.fdopen(handle, "wb") as out:
            if isinstance(upload, UploadFile) and has_file:
                while chunk := await upload.read(_CHUNK):
                    out.write(chunk)
            else:
                out.write(pasted.replace("\r\n", "\n").encode("utf-8"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, name


@signed_in
async def import_page(desk: Desk) -> Response:
    """Import an export file (or a pasted comment section) into a site; show the report."""
    site_id = await _owned_site(desk)  # before the body is read
    values: dict[str, str] = {"format": desk.request.query_params.get("format", "")}
    report: dict[str, object] | None = None
    status, error = 200, None
    if desk.request.method == "POST":
        form = await desk.form()
        values = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("csrf", "pasted")}
        try:
            fmt = form_text(form, "format")
            try:
                if fmt not in FORMATS:
                    raise errors.InvalidInput("Choose the format of the file.", field="format")
                path, name = await _spool(form, fmt)
                try:
                    options = _options(site_id, fmt, form, name)
                    result = await desk.call(lambda: importing.run(desk.ctx, reader(fmt)(path), options))
                finally:
                    path.unlink(missing_ok=True)
                report = result.as_dict()
                if fmt == "paste" and not options.dry_run and result.import_id and result.held:
                    return desk.redirect(f"/desk/imports/{result.import_id}")
            except (errors.InvalidInput, errors.UnknownSite) as exc:  # invalid_import_file: nothing imported
                status, error = status_of(exc), exc
        finally:
            await form.close()  # the upload's temporary file
    waiting = await desk.call(lambda: reviews.awaiting(desk.ctx, desk.me, site_id))
    return desk.render(
        "import.html", status, site_id=site_id, formats=FORMATS, values=values, report=report,
        error=error, waiting=waiting,
    )  # fmt: skip


def _import_id(desk: Desk) -> int:
    try:
        value = int(desk.request.path_params["import_id"])
    except ValueError:
        raise errors.NotPermitted("You do not have access to that.") from None
    if not is_id(value):
        raise errors.NotPermitted("You do not have access to that.")
    return value


def _choices(form: FormData, review: reviews.Review) -> list[reviews.Choice]:
    choices = []
    for row in review.rows:
        if not row.held:
            continue
        cid = row.comment.id
        raw = form_text(form, f"parent-{cid}")
        parent: int | str | None
        if raw == reviews.JOIN:
            parent = reviews.JOIN
        elif raw:
            try:
                parent = int(raw)
            except ValueError:
                raise errors.InvalidInput("Choose which comment it answers.", field="parent") from None
        else:
            parent = None
        choices.append(
            reviews.Choice(cid, form_text(form, f"mine-{cid}") == "1", parent, form_text(form, f"name-{cid}"))
        )
    return choices


@signed_in
async def review_page(desk: Desk) -> Response:
    """A pasted comment section: which are hers, what each answers; then publish."""
    user, import_id = desk.me, _import_id(desk)
    review = await desk.call(lambda: reviews.review(desk.ctx, user, import_id))
    status, error = 200, None
    if desk.request.method == "POST":
        form = await desk.form()
        choices = _choices(form, review)
        try:
            await desk.call(lambda: reviews.publish(desk.ctx, user, import_id, choices))
            return desk.redirect(f"/desk/imports/{import_id}?published=1")
        except errors.InvalidInput as exc:
            status, error = status_of(exc), exc
    return desk.render(
        "review.html", status, review=review, error=error, join=reviews.JOIN,
        published=desk.request.query_params.get("published") == "1",
    )  # fmt: skip
