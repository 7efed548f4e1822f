//! Queries (RFC 7644 §3.4.2, §3.4.3) as streams over every page.
//!
//! A stream holds one page at a time, so exporting a million users takes the memory of one
//! page. Index paging advances by the number of resources actually received, not by the count
//! asked for: servers return shorter pages than asked (their own maximum) without saying so,
//! and `itemsPerPage` is often missing. Cursor paging (RFC 9865) is preferred where advertised,
//! because it neither skips nor repeats resources while the set changes and it costs the
//! server no OFFSET scan.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use scim::Filter;
use scim::messages::{ListResponse, SearchRequest, SortOrder};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::resources::Resources;
use crate::transport::Call;

/// One page of a query.
pub type Page = ListResponse<Value>;

/// A stream of resources.
pub type ResourceStream = BoxStream<'static, Result<Value>>;

/// A stream of pages.
pub type PageStream = BoxStream<'static, Result<Page>>;

/// Which pagination a query uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Paging {
    /// Cursor where the server advertises it, index otherwise.
    #[default]
    Auto,
    Index,
    Cursor,
}

/// What to ask for: filter, projection, order, page size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub filter: Option<String>,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
    /// Resources per page; the client's default when `None`, never above the server's maximum.
    pub page_size: Option<u64>,
    /// Stop after this many resources.
    pub limit: Option<u64>,
    pub paging: Paging,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// A filter built with [`crate::filter`] (or parsed), rendered so that values are quoted
    /// and escaped correctly.
    pub fn filter(mut self, filter: &Filter) -> Self {
        self.filter = Some(filter.to_string());
        self
    }

    /// A filter as text, sent as given.
    pub fn filter_text(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    pub fn attributes<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.attributes.extend(names.into_iter().map(Into::into));
        self
    }

    pub fn excluded_attributes<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.excluded_attributes
            .extend(names.into_iter().map(Into::into));
        self
    }

    pub fn sort_by(mut self, path: impl Into<String>, order: SortOrder) -> Self {
        self.sort_by = Some(path.into());
        self.sort_order = Some(order);
        self
    }

    pub fn page_size(mut self, n: u64) -> Self {
        self.page_size = Some(n);
        self
    }

    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
enum Next {
    /// 1-based start index.
    Index(u64),
    /// RFC 9865 cursor; empty for the first page.
    Cursor(String),
    Done,
}

struct State {
    resources: Resources,
    query: Query,
    search: bool,
    next: Option<Next>,
    page_size: u64,
    seen: u64,
    /// The id of the previous page's first resource: a server that ignores `startIndex`
    /// returns the same page forever, and this stops the loop.
    previous_first: Option<String>,
}

pub(crate) fn pages(resources: Resources, query: Query, search: bool) -> PageStream {
    let state = State {
        resources,
        query,
        search,
        next: None,
        page_size: 0,
        seen: 0,
        previous_first: None,
    };
    stream::try_unfold(state, |mut st| async move {
        let next = match st.next.take() {
            Some(n) => n,
            None => st.start().await?,
        };
        if next == Next::Done {
            return Ok(None);
        }
        let page = st.fetch(&next).await?;
        st.next = Some(st.advance(&next, &page)?);
        st.seen += page.resources.len() as u64;
        Ok(Some((page, st)))
    })
    .boxed()
}

pub(crate) fn resources(resources: Resources, query: Query, search: bool) -> ResourceStream {
    let limit = query.limit;
    let s = pages(resources, query, search)
        .map_ok(|page| stream::iter(page.resources.into_iter().map(Ok)))
        .try_flatten();
    match limit {
        Some(n) => s.take(usize::try_from(n).unwrap_or(usize::MAX)).boxed(),
        None => s.boxed(),
    }
}

pub(crate) async fn first_page(resources: Resources, query: Query) -> Result<Page> {
    let mut st = State {
        resources,
        query,
        search: false,
        next: None,
        page_size: 0,
        seen: 0,
        previous_first: None,
    };
    let next = st.start().await?;
    st.fetch(&next).await
}

impl State {
    /// Decides page size and pagination from the server's capabilities.
    async fn start(&mut self) -> Result<Next> {
        let caps = self.resources.client().capabilities().await?;
        let wanted = self
            .query
            .page_size
            .unwrap_or(self.resources.client().default_page_size());
        self.page_size = match caps.max_results {
            Some(max) => wanted.min(max),
            None => wanted,
        };
        if let Some(limit) = self.query.limit {
            self.page_size = self.page_size.min(limit.max(1));
        }
        let cursor = match self.query.paging {
            Paging::Auto => caps.cursor_paging,
            Paging::Index => false,
            Paging::Cursor => true,
        };
        Ok(if cursor {
            Next::Cursor(String::new())
        } else {
            Next::Index(1)
        })
    }

    async fn fetch(&self, next: &Next) -> Result<Page> {
        let (start_index, cursor) = match next {
            Next::Index(i) => (Some(*i), None),
            Next::Cursor(c) => (None, Some(c.clone())),
            Next::Done => (Some(1), None),
        };
        let q = &self.query;
        let call = if self.search {
            let request = SearchRequest {
                schemas: vec![scim::urn::SEARCH_REQUEST.to_owned()],
                attributes: q.attributes.clone(),
                excluded_attributes: q.excluded_attributes.clone(),
                filter: q.filter.clone(),
                sort_by: q.sort_by.clone(),
                sort_order: q.sort_order,
                start_index: start_index.map(|i| i as i64),
                count: Some(self.page_size as i64),
                cursor,
            };
            Call::new(Method::POST, self.resources.url(&[".search"])?)
                .json(serde_json::to_vec(&request).unwrap_or_default())
                .idempotent(true)
        } else {
            let mut url = self.resources.url(&[])?;
            {
                let mut p = url.query_pairs_mut();
                if let Some(f) = &q.filter {
                    p.append_pair("filter", f);
                }
                if !q.attributes.is_empty() {
                    p.append_pair("attributes", &q.attributes.join(","));
                }
                if !q.excluded_attributes.is_empty() {
                    p.append_pair("excludedAttributes", &q.excluded_attributes.join(","));
                }
                if let Some(s) = &q.sort_by {
                    p.append_pair("sortBy", s);
                }
                if let Some(o) = q.sort_order {
                    p.append_pair("sortOrder", o.as_str());
                }
                if let Some(i) = start_index {
                    p.append_pair("startIndex", &i.to_string());
                }
                p.append_pair("count", &self.page_size.to_string());
                if let Some(c) = &cursor {
                    p.append_pair("cursor", c);
                }
            }
            Call::new(Method::GET, url)
        };
        let reply = self.resources.client().transport().execute(&call).await?;
        reply.message()
    }

    fn advance(&mut self, current: &Next, page: &Page) -> Result<Next> {
        let received = page.resources.len() as u64;
        if received == 0 || self.page_size == 0 {
            return Ok(Next::Done);
        }
        if self.query.limit.is_some_and(|l| self.seen + received >= l) {
            return Ok(Next::Done);
        }
        let first = page
            .resources
            .first()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if first.is_some() && first == self.previous_first {
            return Err(Error::InvalidResponse {
                url: self.resources.endpoint(),
                message: "the server returned the same page twice; it ignores the paging \
                          parameters"
                    .into(),
            });
        }
        self.previous_first = first;
        match current {
            Next::Index(start) => {
                let next = start + received;
                Ok(if next > page.total_results {
                    Next::Done
                } else {
                    Next::Index(next)
                })
            }
            Next::Cursor(sent) => match &page.next_cursor {
                Some(c) if c.is_empty() => Ok(Next::Done),
                Some(c) if c == sent => Err(Error::InvalidResponse {
                    url: self.resources.endpoint(),
                    message: "the server returned the cursor it was given as nextCursor".into(),
                }),
                Some(c) => Ok(Next::Cursor(c.clone())),
                // A server that ignored `cursor` and paged by index: carry on by index.
                None if page.start_index.is_some() && received < page.total_results => {
                    let start = page.start_index.unwrap_or(1).max(1);
                    let next = start + received;
                    Ok(if next > page.total_results {
                        Next::Done
                    } else {
                        Next::Index(next)
                    })
                }
                None => Ok(Next::Done),
            },
            Next::Done => Ok(Next::Done),
        }
    }
}
