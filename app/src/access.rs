//! Who is looking: the caller's [`Access`] in context, the read-only gate
//! around every control, the header badge and the sign-in page.
//!
//! The server renders the page with the caller's access on `<html
//! data-access="local|admin|viewer">` (see [`access_attr`]); the browser reads
//! it back when it hydrates, so the controls are right from the first paint.
//! Signing in is a plain HTML form posted to `/api/auth/signin`, which sets
//! an HttpOnly session cookie and reloads the page: it works before (and
//! without) the WebAssembly.

use leptos::prelude::*;

use crate::wire::Access;

/// The caller's access, provided as context by [`crate::App`].
#[derive(Clone, Copy, Debug)]
pub struct AccessState(pub RwSignal<Access>);

/// The [`AccessState`] in context; local admin when absent.
pub fn use_access() -> RwSignal<Access> {
    use_context::<AccessState>().map_or_else(
        || {
            RwSignal::new(Access {
                public: false,
                admin: true,
            })
        },
        |a| a.0,
    )
}

/// `"local"` (not public, this machine's user), `"remote"` (not public,
/// another machine: watches only), `"admin"` or `"viewer"`.
pub fn access_attr(a: Access) -> &'static str {
    match (a.public, a.admin) {
        (false, true) => "local",
        (false, false) => "remote",
        (true, true) => "admin",
        (true, false) => "viewer",
    }
}

/// The inverse of [`access_attr`]; anything unknown is `"local"`.
pub fn from_attr(s: &str) -> Access {
    match s {
        "remote" => Access {
            public: false,
            admin: false,
        },
        "viewer" => Access {
            public: true,
            admin: false,
        },
        "admin" => Access {
            public: true,
            admin: true,
        },
        _ => Access {
            public: false,
            admin: true,
        },
    }
}

/// The access this page was rendered for: on the server from the request
/// (the access guard's extension), in the browser from `<html data-access>`.
pub fn initial_access() -> Access {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Access>().copied())
            .unwrap_or(Access {
                public: false,
                admin: true,
            })
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        let attr = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("data-access"))
            .unwrap_or_default();
        from_attr(&attr)
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        from_attr("")
    }
}

/// Wraps controls: disabled (a `fieldset`) for a viewer of a public
/// dashboard, with a note that links to the sign-in page.
#[component]
pub fn AdminGate(children: Children) -> impl IntoView {
    let access = use_access();
    let viewer = move || !access.get().admin;
    view! {
        <fieldset class="admin-gate" data-testid="admin-gate" disabled=viewer>
            {move || match (viewer(), access.get().public) {
                (true, true) => Some(view! {
                    <p class="readonly-note" data-testid="readonly-note">
                        "Read-only: this dashboard is public. "
                        <a href="/signin" rel="external">"Sign in"</a>
                        " as admin to use the controls."
                    </p>
                }.into_any()),
                (true, false) => Some(view! {
                    <p class="readonly-note" data-testid="readonly-note">
                        "Read-only: the controls belong to the user of the machine vstack runs on (start it with "
                        <code>"--public"</code> " to sign in from elsewhere)."
                    </p>
                }.into_any()),
                (false, _) => None,
            }}
            {children()}
        </fieldset>
    }
}

/// Header badge: nothing locally; in public mode "viewer · Sign in" or
/// "admin · Sign out".
#[component]
pub fn AccessBadge() -> impl IntoView {
    let access = use_access();
    move || {
        let a = access.get();
        a.public.then(|| {
            if a.admin {
                view! {
                    <form class="access" data-testid="access" data-role="admin" method="post" action="/api/auth/signout">
                        <span class="access-role">"admin"</span>
                        <button class="btn small" type="submit" data-testid="sign-out">"Sign out"</button>
                    </form>
                }
                .into_any()
            } else {
                view! {
                    <div class="access" data-testid="access" data-role="viewer">
                        <span class="access-role">"viewer"</span>
                        <a href="/signin" rel="external" data-testid="sign-in-link">"Sign in"</a>
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// `/signin`: the admin token form (a plain form post, works without WASM).
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let failed = move || query.with(|q| q.get("failed").is_some());
    let access = use_access();
    view! {
        <div class="card signin">
            <h2>"Sign in as admin"</h2>
            {move || (!access.get().public).then(|| view! {
                <p class="muted" data-testid="signin-local">"This dashboard is not public: every local visitor already has the controls."</p>
            })}
            <form method="post" action="/api/auth/signin" data-testid="signin-form">
                <input type="hidden" name="next" value="/"/>
                <label>"Admin token "
                    <input type="password" name="token" autocomplete="current-password" required data-testid="signin-token"/>
                </label>
                <button class="btn" type="submit" data-testid="signin-submit">"Sign in"</button>
            </form>
            {move || failed().then(|| view! { <p class="error" data-testid="signin-failed">"Wrong token."</p> })}
            <p class="muted small">
                "The token is printed once when " <code>"vstack serve --public"</code>
                " starts (or set with " <code>"--admin-token"</code> "). Scripts send "
                <code>"Authorization: Bearer <token>"</code> " instead."
            </p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_attribute_round_trips() {
        for a in [
            Access {
                public: false,
                admin: true,
            },
            Access {
                public: true,
                admin: true,
            },
            Access {
                public: true,
                admin: false,
            },
        ] {
            assert_eq!(from_attr(access_attr(a)), a);
        }
        assert_eq!(
            from_attr("junk"),
            Access {
                public: false,
                admin: true
            }
        );
    }
}
