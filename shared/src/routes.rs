//! The HTTP routes, as the API Gateway, `cargo lambda watch` and the local runner serve them.

/// One route: method, path (with `{name}` parameters) and the function that serves it.
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
pub const ROUTES: [Route; 4] = [
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
        path: "/health",
        function: "active-alerts",
    },
];

/// What a method and path lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// The route, with its path parameters.
    Found(&'static Route, Vec<(&'static str, String)>),
    /// The path exists with other methods (listed for `Allow`).
    MethodNotAllowed(&'static str),
    NotFound,
}

/// Finds the route of a request path (without query string).
pub fn find(method: &str, path: &str) -> RouteMatch {
    let mut allowed = None;
    for route in &ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                return RouteMatch::Found(route, params);
            }
            allowed = Some(route.method);
        }
    }
    allowed.map_or(RouteMatch::NotFound, RouteMatch::MethodNotAllowed)
}

fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut actual = path.trim_end_matches('/').split('/');
    for expected in pattern.split('/') {
        let segment = actual.next()?;
        match expected.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => params.push((name, segment.to_owned())),
            Some(_) => return None,
            None if expected == segment => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(params)
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
        assert_eq!(params, vec![("id", "abc".to_owned())]);
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
