"""The assistant's tools: calls to the members service made **with the member's own access token**.

Authorisation is enforced here, in code, not in a prompt:
- a :class:`MemberTools` is built from the caller's bearer token only; the member it acts for is whatever
  ``GET /members/me`` says that token belongs to;
- no tool takes a member id: ``book_class`` sends only a class id (the members service books the token's member),
  ``cancel_booking`` refuses any booking id that is not in the caller's own bookings, and a booking that comes back
  for another member raises :class:`NotYours`;
- the members service checks the token again on every call (defence in depth).
The LangChain tool objects (:meth:`MemberTools.as_langchain_tools`) wrap the same methods, so a tool-calling LLM
backend sees exactly the same guarded surface.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx


class ToolError(Exception):
    """A members-service call failed; ``message`` is safe to show the member."""


class NotYours(ToolError):
    pass


class MemberTools:
    def __init__(self, members_url: str, token: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        if not token:
            raise ToolError("no access token")
        self._client = httpx.Client(base_url=members_url, headers={"Authorization": f"Bearer {token}"},
                                    timeout=timeout, transport=transport)
        self._me: dict | None = None
        self.calls: list[dict[str, Any]] = []  # audit of every call made in this turn

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ToolError(f"members service unreachable ({type(exc).__name__})") from None
        self.calls.append({"method": method, "path": path, "status": response.status_code})
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ToolError(str(detail)[:300])
        return response.json()

    # ------------------------------------------------------------------ reads
    def me(self) -> dict:
        if self._me is None:
            self._me = self._call("GET", "/members/me")
        return self._me

    @property
    def member_id(self) -> int:
        return int(self.me()["id"])

    def classes(self, start: datetime, days: int = 7) -> list[dict]:
        end = start + timedelta(days=max(1, min(days, 14)))
        return self._call("GET", "/classes", params={"start": start.isoformat(), "end": end.isoformat(),
                                                     "limit": 200})

    def class_info(self, class_id: int) -> dict:
        return self._call("GET", f"/classes/{int(class_id)}")

    def my_bookings(self) -> list[dict]:
        return self._call("GET", f"/members/{self.member_id}/bookings")

    def my_visits(self) -> list[dict]:
        return self._call("GET", f"/members/{self.member_id}/visits")

    # ------------------------------------------------------------------ actions
    def book_class(self, class_id: int) -> dict:
        booking = self._call("POST", "/bookings", json={"class_id": int(class_id)})
        if int(booking["member_id"]) != self.member_id:
            raise NotYours("the members service returned a booking of another member")
        return booking

    def cancel_booking(self, booking_id: int) -> dict:
        own = {int(b["id"]) for b in self.my_bookings()}
        if int(booking_id) not in own:
            raise NotYours(f"booking {booking_id} is not one of your bookings")
        return self._call("POST", f"/bookings/{int(booking_id)}/cancel")

    def as_langchain_tools(self) -> list:
        """The guarded actions as LangChain tools (for an OpenAI-compatible backend with tool calling)."""
        from langchain_core.tools import StructuredTool

        return [StructuredTool.from_function(self.book_class, name="book_class",
                                             description="Book a class for the calling member by class id."),
                StructuredTool.from_function(self.cancel_booking, name="cancel_booking",
                                             description="Cancel one of the calling member's bookings by id."),
                StructuredTool.from_function(self.my_bookings, name="my_bookings",
                                             description="The calling member's bookings.")]
