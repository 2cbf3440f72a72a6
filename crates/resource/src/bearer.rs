//! Bearer token extraction from the Authorization header, a form body or the query (RFC 6750 §2).
