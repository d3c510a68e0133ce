//! The HTTP routes, as the API Gateway (`infra/template.yaml`), `cargo lambda watch` (the root
//! `Cargo.toml`) and `max-local serve` serve them; a test checks that the three agree.

use std::sync::LazyLock;

/// One route: method, path (with `{name}` parameters, as API Gateway writes them) and the function
/// that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: &'static str,
}

impl Route {
    /// The gateway's name of the route: `"POST /api/alerts/{id}/resolve"`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Every route of the system.
pub const ROUTES: [Route; 12] = [
    Route {
        method: "POST",
        path: "/api/activities/log",
        function: "log-activity",
    },
    Route {
        method: "GET",
        path: "/api/alerts/active",
        function: "active-alerts",
    },
    Route {
        method: "POST",
        path: "/api/alerts/{id}/resolve",
        function: "resolve-alert",
    },
    Route {
        method: "GET",
        path: "/api/alerts/resolved",
        function: "resolved-alerts",
    },
    Route {
        method: "GET",
        path: "/api/alerts/metrics",
        function: "alert-metrics",
    },
    Route {
        method: "POST",
        path: "/api/alerts/{id}/acknowledge",
        function: "acknowledge-alert",
    },
    Route {
        method: "GET",
        path: "/api/alerts/{id}",
        function: "alert-history",
    },
    Route {
        method: "POST",
        path: "/api/alerts/{id}/snooze",
        function: "snooze-alert",
    },
    Route {
        method: "DELETE",
        path: "/api/alerts/{id}/snooze",
        function: "snooze-alert",
    },
    Route {
        method: "GET",
        path: "/health",
        function: "active-alerts",
    },
    Route {
        method: "POST",
        path: "/webhooks/greenapi",
        function: "whatsapp-webhook",
    },
    Route {
        method: "POST",
        path: "/api/leads",
        function: "upsert-leads",
    },
];

/// The routes of one path, and its `Allow` header.
struct Methods {
    routes: Vec<&'static Route>,
    allow: String,
}

static ROUTER: LazyLock<matchit::Router<Methods>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    let mut paths: Vec<&str> = ROUTES.iter().map(|route| route.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let routes: Vec<&Route> = ROUTES.iter().filter(|r| r.path == path).collect();
        let allow = routes
            .iter()
            .map(|r| r.method)
            .collect::<Vec<_>>()
            .join(", ");
        router
            .insert(path, Methods { routes, allow })
            .expect("the routes do not overlap");
    }
    router
});

/// What a method and path lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// The route, with its path parameters.
    Found(&'static Route, Vec<(String, String)>),
    /// The path exists with other methods (listed for `Allow`).
    MethodNotAllowed(&'static str),
    NotFound,
}

/// Finds the route of a request path (without query string); a trailing slash is tolerated.
pub fn find(method: &str, path: &str) -> RouteMatch {
    let trimmed = path.trim_end_matches('/');
    let Ok(found) = ROUTER.at(if trimmed.is_empty() { "/" } else { trimmed }) else {
        return RouteMatch::NotFound;
    };
    // A parameter names something: an empty segment is no path of ours.
    if found.params.iter().any(|(_, value)| value.is_empty()) {
        return RouteMatch::NotFound;
    }
    let params = found
        .params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    match found
        .value
        .routes
        .iter()
        .find(|route| route.method.eq_ignore_ascii_case(method))
    {
        Some(route) => RouteMatch::Found(route, params),
        None => RouteMatch::MethodNotAllowed(&found.value.allow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_parameters_match() {
        let RouteMatch::Found(route, params) = find("POST", "/api/alerts/abc/resolve") else {
            panic!("no match");
        };
        assert_eq!(route.function, "resolve-alert");
        assert_eq!(params, vec![("id".to_owned(), "abc".to_owned())]);
    }

    #[test]
    fn a_known_path_with_another_method_is_not_allowed() {
        assert_eq!(
            find("GET", "/api/activities/log"),
            RouteMatch::MethodNotAllowed("POST")
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert_eq!(find("GET", "/api/alerts"), RouteMatch::NotFound);
        assert_eq!(find("POST", "/api/alerts//resolve"), RouteMatch::NotFound);
        assert_eq!(
            find("GET", "/api/alerts/active/extra"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn a_trailing_slash_is_tolerated() {
        assert!(matches!(find("GET", "/health/"), RouteMatch::Found(..)));
    }
}
