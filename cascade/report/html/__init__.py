"""The self-contained HTML pages: run page, comparison and sweep pages, their charts and assets."""
