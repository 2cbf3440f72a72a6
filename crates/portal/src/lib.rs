//! The management portal (server-rendered pages) and the admin JSON API for every configuration
//! item: server configuration, client descriptions, users, server descriptions and client
//! configurations. Arrives with the portal issue.
