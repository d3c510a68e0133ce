//! Users' tokens from identity providers that sign with published keys (JWKS), against a fake
//! provider the tests start: discovery, rotation, the refetch limit, algorithms, claims, and
//! several issuers at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use shared::config::{ClaimSettings, IssuerSettings};
use shared::tenancy::jwks::KeyTiming;
use shared::tenancy::{JwtVerifier, Scope, TokenRefused, User};
use shared::testing::issuer::{FakeIssuer, TestKey};

const AUDIENCE: &str = "max-dashboard";
const MAX_SECRET: &[u8] = b"the M.A.X. login's secret, 32+ bytes";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a Cognito ID token of user `sub` in tenant `tenant` (as the user pool's custom
/// attribute) and its groups.
fn cognito_claims(issuer: &FakeIssuer, sub: &str, tenant: &str) -> Value {
    json!({
        "sub": sub, "email": format!("{sub}@acme.test"), "custom:tenant": tenant,
        "cognito:groups": ["sales"], "token_use": "id",
        "iss": issuer.issuer(), "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
    })
}

/// Cognito as an issuer: the tenant in `custom:tenant`, the groups in `cognito:groups`.
fn cognito(issuer: &FakeIssuer, discovery: bool) -> IssuerSettings {
    IssuerSettings {
        issuer: issuer.issuer(),
        audiences: vec![AUDIENCE.into()],
        jwks_url: (!discovery).then(|| issuer.jwks_url()),
        claims: ClaimSettings {
            tenant: Some("custom:tenant".into()),
            user: None,
            role: Some("cognito:groups".into()),
            role_scopes: Some("sales=alerts:read alerts:resolve;viewers=alerts:read".into()),
        },
    }
}

async fn verifier_of(issuers: &[IssuerSettings], timing: KeyTiming) -> JwtVerifier {
    let mut verifier = JwtVerifier::default();
    for issuer in issuers {
        verifier = verifier.with_issuer(issuer, timing).await.unwrap();
    }
    verifier
}

fn timing(min_refetch_ms: u64, max_age_ms: u64) -> KeyTiming {
    KeyTiming {
        min_refetch: Duration::from_millis(min_refetch_ms),
        retry_after_failure: Duration::from_millis(min_refetch_ms),
        max_age: Duration::from_millis(max_age_ms),
        timeout: Duration::from_secs(2),
    }
}

fn user(tenant: &str, id: &str, scopes: &[Scope]) -> User {
    User {
        tenant: shared::tenancy::TenantId::parse(tenant).unwrap(),
        id: id.into(),
        scopes: scopes.to_vec(),
    }
}

#[tokio::test]
async fn a_token_signed_with_a_published_key_is_its_user_found_by_discovery_or_url() {
    let rsa = TestKey::rsa("rsa-2026");
    let ec = TestKey::ec("ec-2026");
    let provider = FakeIssuer::start(&[&rsa, &ec]);
    for discovery in [true, false] {
        let verifier = verifier_of(&[cognito(&provider, discovery)], KeyTiming::default()).await;
        for key in [&rsa, &ec] {
            let token = key.sign(&cognito_claims(&provider, "0f9c", "acme"));
            assert_eq!(
                verifier.verify(&token).await,
                Ok(user(
                    "acme",
                    "0f9c",
                    &[Scope::ReadAlerts, Scope::ResolveAlerts]
                )),
                "{:?} discovery={discovery}",
                key.algorithm
            );
        }
    }
    // Discovery was read once, for the verifier that used it; the keys once per verifier.
    assert_eq!(provider.discovery_fetches(), 1);
    assert_eq!(provider.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_rotation_is_followed_a_new_key_fetched_when_seen_a_withdrawn_one_dropped() {
    let old = TestKey::rsa("2026-01");
    let new = TestKey::other_rsa("2026-02");
    let provider = FakeIssuer::start(&[&old]);
    let claims = cognito_claims(&provider, "0f9c", "acme");
    let (old_token, new_token) = (old.sign(&claims), new.sign(&claims));
    let verifier = verifier_of(&[cognito(&provider, true)], timing(200, 2000)).await;
    assert!(verifier.verify(&old_token).await.is_ok());

    // The provider publishes a new key and signs with it: the set is fetched again when a token
    // names it (once the refetch limit has passed since the cold start's fetch).
    provider.publish(&[&old, &new]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(verifier.verify(&new_token).await.is_ok());
    assert_eq!(provider.jwks_fetches(), 2);

    // The old key is withdrawn: once the keys are older than their age limit, a refresh in the
    // background drops it, and its tokens are refused.
    provider.publish(&[&new]);
    tokio::time::sleep(Duration::from_millis(2050)).await;
    let mut refused = false;
    for _ in 0..50 {
        if verifier.verify(&old_token).await == Err(TokenRefused) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a withdrawn key is still trusted");
    assert!(verifier.verify(&new_token).await.is_ok());
}

/// Verifies these tokens at once.
async fn burst(verifier: &JwtVerifier, tokens: &[String]) -> Vec<Result<User, TokenRefused>> {
    futures_util::future::join_all(tokens.iter().map(|token| verifier.verify(token))).await
}

#[tokio::test]
async fn forged_kids_are_refused_and_fetch_the_keys_at_most_once_per_interval() {
    let key = TestKey::rsa("real");
    let provider = FakeIssuer::start(&[&key]);
    let claims = cognito_claims(&provider, "0f9c", "acme");
    let forged: Vec<String> = (0..40)
        .map(|n| key.sign_as(Algorithm::RS256, Some(&format!("forged-{n}")), &claims))
        .collect();
    let verifier = verifier_of(&[cognito(&provider, false)], timing(1000, 3_600_000)).await;

    // Within the interval after the cold start's fetch, nothing is fetched.
    let refused = burst(&verifier, &forged[..20]).await;
    assert!(refused.iter().all(|outcome| *outcome == Err(TokenRefused)));
    assert_eq!(provider.jwks_fetches(), 1);

    // After it, a burst of forged kids makes one fetch, not one each.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let refused = burst(&verifier, &forged[20..]).await;
    assert!(refused.iter().all(|outcome| *outcome == Err(TokenRefused)));
    assert_eq!(provider.jwks_fetches(), 2);
    assert!(verifier.verify(&key.sign(&claims)).await.is_ok());
}

#[tokio::test]
async fn a_key_verifies_with_its_own_algorithm_only_and_never_as_an_hmac_secret() {
    let rsa = TestKey::rsa("rsa");
    let ec = TestKey::ec("ec");
    let provider = FakeIssuer::start(&[&rsa, &ec]);
    // The M.A.X. login's HS256 secret is configured as well: a token naming the provider must
    // still be verified with the provider's keys only.
    let verifier = JwtVerifier::hs256(MAX_SECRET, None, None)
        .unwrap()
        .with_issuer(&cognito(&provider, false), KeyTiming::default())
        .await
        .unwrap();
    let claims = cognito_claims(&provider, "0f9c", "acme");
    let hs256_with_max_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(MAX_SECRET),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","kid":"rsa"}"#),
            b64.encode(claims.to_string())
        )
    };
    for (what, token) in [
        ("HS256 keyed with the public key", rsa.forge_hs256(&claims)),
        ("HS256 with the M.A.X. secret", hs256_with_max_secret),
        ("alg none", unsigned),
        (
            "RS384 with an RS256 key",
            rsa.sign_as(Algorithm::RS384, Some("rsa"), &claims),
        ),
        (
            "PS256 with an RS256 key",
            rsa.sign_as(Algorithm::PS256, Some("rsa"), &claims),
        ),
        (
            "RSA signature under the EC key's kid",
            rsa.sign_as(Algorithm::RS256, Some("ec"), &claims),
        ),
        (
            "no kid while the set has two keys",
            rsa.sign_as(Algorithm::RS256, None, &claims),
        ),
    ] {
        assert_eq!(verifier.verify(&token).await, Err(TokenRefused), "{what}");
    }
    assert!(verifier.verify(&rsa.sign(&claims)).await.is_ok());
    assert!(verifier.verify(&ec.sign(&claims)).await.is_ok());
}

#[tokio::test]
async fn audience_issuer_expiry_and_not_before_are_checked_with_a_small_leeway() {
    let key = TestKey::rsa("k");
    let provider = FakeIssuer::start(&[&key]);
    let other = FakeIssuer::start(&[&TestKey::other_rsa("k")]);
    let verifier = verifier_of(
        &[cognito(&provider, false), cognito(&other, false)],
        KeyTiming::default(),
    )
    .await;
    let valid = cognito_claims(&provider, "0f9c", "acme");
    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                value => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        key.sign(&claims)
    };
    for (what, token) in [
        ("another audience", with(json!({"aud": "another-app"}))),
        ("no audience", with(json!({"aud": null}))),
        (
            "an unknown issuer",
            with(json!({"iss": "https://evil.test"})),
        ),
        ("no issuer", with(json!({"iss": null}))),
        // Signed with this provider's key, but naming another configured provider.
        (
            "another provider's name",
            with(json!({"iss": other.issuer()})),
        ),
        ("expired", with(json!({"exp": now() - 120}))),
        ("no expiry", with(json!({"exp": null}))),
        ("not yet valid", with(json!({"nbf": now() + 120}))),
    ] {
        assert_eq!(verifier.verify(&token).await, Err(TokenRefused), "{what}");
    }
    // Clocks a few seconds apart are tolerated; an audience list may hold the expected one.
    for (what, token) in [
        ("expired 10 s ago", with(json!({"exp": now() - 10}))),
        ("valid in 10 s", with(json!({"nbf": now() + 10}))),
        ("audiences", with(json!({"aud": ["another-app", AUDIENCE]}))),
    ] {
        assert!(verifier.verify(&token).await.is_ok(), "{what}");
    }
}

#[tokio::test]
async fn a_token_without_a_valid_tenant_or_user_is_refused() {
    let key = TestKey::ec("k");
    let provider = FakeIssuer::start(&[&key]);
    let verifier = verifier_of(&[cognito(&provider, false)], KeyTiming::default()).await;
    let valid = cognito_claims(&provider, "0f9c", "acme");
    for (claim, value) in [
        ("custom:tenant", Value::Null),
        ("custom:tenant", json!("Acme Corp")),
        ("custom:tenant", json!(["acme"])),
        ("custom:tenant", json!("")),
        ("sub", Value::Null),
        ("sub", json!({"id": 1})),
    ] {
        let mut claims = valid.clone();
        match value {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(claim);
            }
            value => claims[claim] = value,
        }
        assert_eq!(
            verifier.verify(&key.sign(&claims)).await,
            Err(TokenRefused),
            "{claim}: {}",
            claims[claim]
        );
    }
    // Groups the mapping does not know grant nothing (a 403 on every route, not a 401).
    let mut claims = valid.clone();
    claims["cognito:groups"] = json!(["interns"]);
    assert!(
        verifier
            .verify(&key.sign(&claims))
            .await
            .unwrap()
            .scopes
            .is_empty()
    );
}

#[tokio::test]
async fn several_issuers_are_verified_each_with_its_own_claims() {
    let cognito_key = TestKey::rsa("c");
    let supabase_key = TestKey::ec("s");
    let pool = FakeIssuer::start(&[&cognito_key]);
    let supabase = FakeIssuer::start(&[&supabase_key]);
    let supabase_settings = IssuerSettings {
        issuer: supabase.issuer(),
        audiences: vec!["authenticated".into()],
        jwks_url: None,
        claims: ClaimSettings {
            tenant: Some("app_metadata.tenant_id".into()),
            user: Some("email".into()),
            // Supabase signs every signed-in user's token with the role `authenticated`.
            role: None,
            role_scopes: Some("authenticated=alerts:read alerts:resolve".into()),
        },
    };
    let mut verifier = JwtVerifier::hs256(MAX_SECRET, None, None).unwrap();
    for issuer in [cognito(&pool, true), supabase_settings] {
        verifier = verifier
            .with_issuer(&issuer, KeyTiming::default())
            .await
            .unwrap();
    }
    // The M.A.X. login, unchanged.
    let max_login = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &json!({"userId": "42", "email": "sophie@macrea.fr", "role": "admin",
                "tenantId": "macrea", "iat": now(), "exp": now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(MAX_SECRET),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&max_login).await,
        Ok(user(
            "macrea",
            "42",
            &[Scope::ReadAlerts, Scope::ResolveAlerts]
        ))
    );
    let cognito_token = cognito_key.sign(&cognito_claims(&pool, "0f9c", "acme"));
    assert_eq!(verifier.verify(&cognito_token).await.unwrap().id, "0f9c");
    let supabase_claims = json!({
        "sub": "5d1e", "email": "li@globex.test", "role": "authenticated",
        "app_metadata": {"provider": "email", "tenant_id": "globex"},
        "iss": supabase.issuer(), "aud": "authenticated", "exp": now() + 600,
    });
    assert_eq!(
        verifier.verify(&supabase_key.sign(&supabase_claims)).await,
        Ok(user(
            "globex",
            "li@globex.test",
            &[Scope::ReadAlerts, Scope::ResolveAlerts]
        ))
    );
    // A Supabase-shaped token signed by the Cognito key is read with Supabase's mapping and
    // verified with Supabase's keys: refused.
    assert_eq!(
        verifier
            .verify(&cognito_key.sign_as(Algorithm::RS256, Some("s"), &supabase_claims))
            .await,
        Err(TokenRefused)
    );
}

#[tokio::test]
async fn an_issuer_down_at_cold_start_is_tried_again_when_a_token_needs_it() {
    let key = TestKey::rsa("k");
    let provider = FakeIssuer::start(&[&key]);
    provider.set_down(true);
    // After a failed fetch the keys are tried again sooner than after a good one.
    let timing = KeyTiming {
        retry_after_failure: Duration::from_millis(300),
        ..timing(3_600_000, 3_600_000)
    };
    let verifier = verifier_of(&[cognito(&provider, true)], timing).await;
    let token = key.sign(&cognito_claims(&provider, "0f9c", "acme"));
    assert_eq!(verifier.verify(&token).await, Err(TokenRefused));
    provider.set_down(false);
    assert_eq!(verifier.verify(&token).await, Err(TokenRefused));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(provider.jwks_fetches(), 1);
}

#[tokio::test]
async fn discovery_naming_another_issuer_or_a_set_of_unusable_keys_trusts_nothing() {
    let key = TestKey::rsa("k");
    let provider = FakeIssuer::start(&[&key]);
    provider.claim_to_be("https://impostor.test");
    let verifier = verifier_of(&[cognito(&provider, true)], KeyTiming::default()).await;
    let token = key.sign(&cognito_claims(&provider, "0f9c", "acme"));
    assert_eq!(verifier.verify(&token).await, Err(TokenRefused));
    assert_eq!(provider.jwks_fetches(), 0);

    // A set holding a symmetric key, an encryption key and garbage besides a good key: only the
    // good key is used.
    let other = FakeIssuer::start(&[]);
    let mut encryption = key.jwk();
    encryption["use"] = "enc".into();
    encryption["kid"] = "enc".into();
    let signer = TestKey::ec("good");
    other.publish_raw(vec![
        json!({"kty": "oct", "kid": "k", "k": "c2VjcmV0", "alg": "HS256"}),
        encryption,
        json!({"kty": "EC", "crv": "P-521", "kid": "x", "x": "AA", "y": "AA"}),
        json!("not a key"),
        signer.jwk(),
    ]);
    let verifier = verifier_of(&[cognito(&other, false)], KeyTiming::default()).await;
    let claims = cognito_claims(&other, "0f9c", "acme");
    assert!(verifier.verify(&signer.sign(&claims)).await.is_ok());
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("k".into()),
            ..jsonwebtoken::Header::new(Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_eq!(verifier.verify(&hs256).await, Err(TokenRefused));
    assert_eq!(
        verifier
            .verify(&key.sign_as(Algorithm::RS256, Some("enc"), &claims))
            .await,
        Err(TokenRefused)
    );
}
