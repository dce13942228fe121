"""GET /xapi/statements checked against a plain model of xAPI Communication 2.1.3: filters,
StatementRefs, voiding, order and paging while statements are stored and voided between pages."""
