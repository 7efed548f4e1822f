//! Tenants, tokens, and the wall between tenants.

use store::{Load, MemberChange, Precondition, StoreError};

use super::*;

fn hash(secret: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

#[tokio::test]
async fn ensure_tenant_creates_once() {
    for b in backends().await {
        let s = &*b.store;
        let (a, created) = s.ensure_tenant("acme").await.unwrap();
        assert!(created);
        let (again, created) = s.ensure_tenant("acme").await.unwrap();
        assert!(!created);
        assert_eq!(a, again);
        assert_eq!(s.tenant("acme").await.unwrap(), Some(a.clone()));
        assert_eq!(s.tenant("nope").await.unwrap(), None);
        let (z, _) = s.ensure_tenant("zeta").await.unwrap();
        assert_eq!(s.tenants().await.unwrap(), vec![a, z]);
    }
}

#[tokio::test]
async fn tokens_authenticate_until_revoked() {
    for b in backends().await {
        let s = &*b.store;
        let t = tenant(s, "acme").await;
        let other = tenant(s, "other").await;
        let info = s
            .create_token(t, hash("secret-1"), Some("ci"))
            .await
            .unwrap();
        assert_eq!(info.tenant, "acme");
        assert_eq!(info.label.as_deref(), Some("ci"));
        assert!(!info.revoked);
        s.create_token(other, hash("secret-2"), None).await.unwrap();

        let p = s.authenticate(hash("secret-1")).await.unwrap().unwrap();
        assert_eq!(p.tenant, t);
        assert_eq!(p.token_id, info.id);
        assert_eq!(p.hash, hash("secret-1"));
        assert_eq!(s.authenticate(hash("wrong")).await.unwrap(), None);

        assert_eq!(s.tokens(Some(t)).await.unwrap(), vec![info.clone()]);
        assert_eq!(s.tokens(None).await.unwrap().len(), 2);

        assert!(s.revoke_token(&info.id).await.unwrap());
        assert_eq!(s.authenticate(hash("secret-1")).await.unwrap(), None);
        assert!(s.tokens(Some(t)).await.unwrap()[0].revoked);
        assert!(!s.revoke_token("no-such-token").await.unwrap());
        // The other tenant's token still works.
        assert!(s.authenticate(hash("secret-2")).await.unwrap().is_some());
        // The same secret cannot be registered twice.
        assert!(s.create_token(t, hash("secret-2"), None).await.is_err());
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    for b in backends().await {
        let s = &*b.store;
        let a = tenant(s, "a").await;
        let z = tenant(s, "z").await;
        let ua = s.create(a, "User", user("bjensen"), vec![]).await.unwrap();
        // The same userName and group name in another tenant is fine.
        let uz = s.create(z, "User", user("bjensen"), vec![]).await.unwrap();
        let ga = s
            .create(a, "Group", group("G"), vec![ua.id.clone()])
            .await
            .unwrap();
        s.create(z, "Group", group("G"), vec![]).await.unwrap();

        // Ids do not cross.
        assert!(
            s.get(z, "User", &ua.id, Load::default())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            edit(s, z, "User", &ua.id, |_| {}).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.delete(z, "Group", &ga.id, Precondition::None).await,
            Err(StoreError::NotFound { .. })
        ));
        // Nor do members.
        let gz = s
            .list(z, Some("Group"), &query(""))
            .await
            .unwrap()
            .resources[0]
            .id
            .clone();
        let err = members(s, z, &gz, vec![MemberChange::Add(vec![ua.id.clone()])])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidMember(_)));

        // Lists, filters and counts.
        for q in [
            query(""),
            query(r#"userName eq "bjensen""#),
            query(&format!(r#"id eq "{}""#, ua.id)),
            query(r#"name.familyName pr or userName pr"#),
        ] {
            let page = s.list(z, Some("User"), &q).await.unwrap();
            assert!(page.resources.iter().all(|r| r.id != ua.id), "{q:?}");
            assert!(page.total <= 1);
        }
        assert_eq!(s.list(z, None, &query("")).await.unwrap().total, 2);
        assert_eq!(s.list(a, None, &query("")).await.unwrap().total, 2);

        // The change feed.
        let feed = s.changes(z, 0, 100).await.unwrap();
        assert!(
            feed.iter()
                .all(|c| c.tenant == z && c.id != ua.id && c.id != ga.id)
        );
        assert_eq!(feed.len(), 2);
        assert!(feed.iter().any(|c| c.id == uz.id));

        // Deleting in one tenant leaves the other's namesake alone.
        s.delete(a, "User", &ua.id, Precondition::None)
            .await
            .unwrap();
        assert!(
            s.get(z, "User", &uz.id, Load::default())
                .await
                .unwrap()
                .is_some()
        );
    }
}
