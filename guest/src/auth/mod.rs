//! Authentication (SPEC 1.2): what a request to the data source carries.
//!
//! Credentials go only to the origin of `source.url`: a next-page URL or a
//! redirect to another origin never receives them.

use crate::config::Auth;
use crate::request::{HttpRequest, origin};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub struct Authenticator {
    auth: Auth,
    origin: String,
}

impl Authenticator {
    pub fn new(auth: &Auth, source_url: &url::Url) -> Self {
        Authenticator {
            auth: auth.clone(),
            origin: origin(source_url),
        }
    }

    /// Adds credentials to `req` when it goes to the source's origin.
    pub fn apply(&self, req: &mut HttpRequest) {
        if origin(&req.url) != self.origin {
            return;
        }
        match &self.auth {
            Auth::None {} => {}
            Auth::Basic { username, password } => {
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                req.set_header("Authorization", format!("Basic {encoded}"));
            }
            Auth::Bearer { token } => req.set_header("Authorization", format!("Bearer {token}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET",
            url: url::Url::parse(url).unwrap(),
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn basic_and_bearer_go_to_the_source_origin_only() {
        let source = url::Url::parse("http://api.example:8080/v1").unwrap();
        let basic = Authenticator::new(
            &Auth::Basic {
                username: "Aladdin".into(),
                password: "open sesame".into(),
            },
            &source,
        );
        let mut req = request("http://api.example:8080/v1/users?page=2");
        basic.apply(&mut req);
        assert_eq!(
            req.header("authorization"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );

        let bearer = Authenticator::new(
            &Auth::Bearer {
                token: "t0k".into(),
            },
            &source,
        );
        let mut req = request("http://api.example:8080/other");
        bearer.apply(&mut req);
        assert_eq!(req.header("Authorization"), Some("Bearer t0k"));

        for elsewhere in [
            "http://api.example:9090/v1",
            "https://api.example:8080/v1",
            "http://evil.example:8080/v1",
        ] {
            let mut req = request(elsewhere);
            bearer.apply(&mut req);
            assert_eq!(req.header("Authorization"), None, "{elsewhere}");
        }
    }
}
