"""Build tools of the course (book, student edition, pinned requirements, publish address).

Outside ``course_utils`` on purpose: learners never import them, and the
package's runtime dependencies stay free of what only these tools need.
Run them from the repository root: ``python -m tools.<name>``.
"""
