"""One error handler: JSON for the API, a Chinese page for people; internals go to the log."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from gisgrid.errors import GisgridError

_TITLES = {400: "请求有误", 404: "未找到", 409: "操作冲突", 500: "服务器内部错误", 503: "数据库暂不可用"}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, message: str, payload: dict):
    if _wants_json():
        return jsonify(payload), status
    return render_template("error.html", status=status, title=_TITLES.get(status, "出错了"),
                           message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(GisgridError)
    def handle_gisgrid(exc: GisgridError):
        return _render(exc.status, exc.message, exc.as_dict())

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        message = {404: "页面不存在。"}.get(exc.code, exc.description)
        return _render(exc.code or 500, message, {"error": exc.name, "message": exc.description})

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return _render(500, "服务器内部错误，已记录日志，请联系管理员。",
                       {"error": "InternalServerError", "message": "internal error; see the server log"})
