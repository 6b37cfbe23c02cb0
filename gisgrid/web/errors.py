"""One error handler: JSON for the API, a Chinese page for people; internals go to the log.

Every error answer speaks Chinese: the page has a Chinese title, and a JSON ``message``
that the domain layer wrote in English gets the Chinese title in front
("请求有误：line was a dict; …"), so the editor can show it as it is.
"""

from __future__ import annotations

import re

from markupsafe import escape

from flask import Flask, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from gisgrid.errors import GisgridError

_TITLES = {400: "请求有误", 401: "需要登录", 403: "禁止访问", 404: "未找到", 405: "请求方法不允许", 409: "操作冲突",
           413: "请求内容过大", 414: "请求地址过长", 429: "请求过于频繁", 415: "请求内容类型不支持", 431: "请求头过大",
           500: "服务器内部错误", 503: "数据库暂不可用"}
_CJK = re.compile(r"[\u3400-\u9fff]")
# Paths whose errors are data (JSON) even outside /api/: a tile is never a page.
_DATA_PREFIXES = ("/api/", "/tiles/")


def _wants_json() -> bool:
    return request.path.startswith(_DATA_PREFIXES)


def _title(status: int) -> str:
    return _TITLES.get(status, "请求有误" if 400 <= status < 500 else "出错了")


def _chinese(status: int, message: str) -> str:
    return message if _CJK.search(message or "") else f"{_title(status)}：{message}"


def _render(status: int, message: str, payload: dict):
    if _wants_json():
        body = jsonify({**payload, "message": _chinese(status, payload.get("message") or message)})
    else:
        body = render_template("error.html", status=status, title=_title(status), message=_chinese(status, message))
    return make_response(body, status)


def render_error(status: int, message: str, payload: dict):
    """The error answer for this request: JSON on data paths, the Chinese error page otherwise."""
    return _render(status, message, payload)


def _http_message(exc: HTTPException) -> str:
    """A Chinese line for the HTTP errors Werkzeug and Flask raise themselves."""
    code = exc.code or 500
    if code == 400 and type(exc).__name__ == "SecurityError":
        hosts = "、".join(str(h) for h in current_app.config.get("TRUSTED_HOSTS") or ())
        return (f"主机名 {request.headers.get('Host', '')[:80]!r} 不在受信任的主机名之列（{hosts}）；"
                "请用服务器地址访问，或由管理员在 GISGRID_TRUSTED_HOSTS 中加入该名称")
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        given = f"为 {request.content_length} 字节，" if request.content_length else ""
        return (f"请求内容{given}超过上限 {limit / 1024 / 1024:g} MB（{limit} 字节，"
                "由 GISGRID_MAX_UPLOAD_MB 设置）；请缩小文件或几何图形后重试")
    return {
        400: "请求有误：请求的格式或参数无法读取。",
        404: "页面不存在。",
        405: f"该地址不支持 {request.method} 请求。",
        414: "请求地址过长。",
        415: "请求内容类型不支持。",
        431: "请求头过大。",
    }.get(code, _chinese(code, exc.description or exc.name))


def _bare_page(status: int, message: str):
    title = escape(_title(status))
    body = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{title}</title>'
            f"<h1>{title}</h1><p>{escape(message)}</p></html>")
    return make_response(body, status, {"Content-Type": "text/html; charset=utf-8"})


def init_app(app: Flask) -> None:
    @app.errorhandler(GisgridError)
    def handle_gisgrid(exc: GisgridError):
        message = exc.zh or exc.message
        return _render(exc.status, message, {**exc.as_dict(), "message": message})

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        message = _http_message(exc)
        if type(exc).__name__ == "SecurityError":
            # Refused before routing: no URL adapter, so no template with url_for().
            return _bare_page(400, message)
        response = _render(exc.code or 500, message, {"error": exc.name, "message": message})
        if getattr(exc, "valid_methods", None):  # 405 says what is allowed
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return _render(500, "服务器内部错误，已记录日志，请联系管理员。",
                       {"error": "InternalServerError", "message": "服务器内部错误；详见服务器日志"})
