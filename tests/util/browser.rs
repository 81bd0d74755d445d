//! A real browser for the console tests: Debian's headless Chromium driven over WebDriver.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free port on 127.0.0.1 and opens one
//! Chromium session with a fresh profile, so tests running at the same time share nothing (no
//! cookies, no cache). Helpers panic with the page's address in the message: they are for tests.
//!
//! Screenshots land in `target/test-screenshots/<test>/NN-<name>.png` (the folder is emptied when
//! the test's first browser starts), beside `chromedriver-N.log`, the driver's own log. A browser
//! dropped while its test panics saves `NN-panic.png` of the page it was on.
//!
//! Nothing is left running: the driver and Chromium run in their own process group, which `Drop`
//! kills (after asking the driver to end the session), and a small watcher kills that group should
//! the test binary itself die first.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `bash .ci/run` installs them); `AIDPAY_TEST_CHROMIUM` and
//! `AIDPAY_TEST_CHROMEDRIVER` name other binaries.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// The window every session gets, so screenshots of the same page are comparable.
pub const WINDOW: (u32, u32) = (1280, 900);

/// How long helpers wait for a page or an element unless told otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

const INSTALL: &str = "install chromium and chromium-driver (bash .ci/run does; by hand: \
     apt-get install --no-install-recommends chromium chromium-driver fonts-wqy-microhei)";

/// One test's output folder, shared by all the browsers of that test (one numbering).
struct OutDir {
    dir: PathBuf,
    shots: AtomicU32,
    drivers: AtomicU32,
}

fn out_dir(test: &str) -> Arc<OutDir> {
    static DIRS: OnceLock<Mutex<HashMap<String, Arc<OutDir>>>> = OnceLock::new();
    let mut dirs = DIRS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    dirs.entry(test.to_string())
        .or_insert_with(|| {
            let dir = screenshot_root().join(file_part(test));
            // Screenshots of an earlier run must not pass for this one's.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
            Arc::new(OutDir { dir, shots: AtomicU32::new(0), drivers: AtomicU32::new(0) })
        })
        .clone()
}

/// `target/test-screenshots` (the target folder is the parent of Cargo's `target/tmp`).
pub fn screenshot_root() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("test-screenshots")
}

/// A name as a file name: letters (Chinese too), digits, `-` and `_`; anything else becomes `_`.
fn file_part(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn binary(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    if !path.is_file() {
        panic!("browser tests need {} ({var}), which is not there: {INSTALL}", path.display());
    }
    path
}

/// The Chromium and chromedriver binaries; panics saying what to install when one is missing.
pub fn require_installed() -> (PathBuf, PathBuf) {
    (binary("AIDPAY_TEST_CHROMIUM", "/usr/bin/chromium"), binary("AIDPAY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free local port").port()
}

/// Which cookies a raw request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithCookies {
    /// None: a request from outside, with no session.
    No,
    /// The browser's cookies for the page it is on (the session cookie too, though HttpOnly):
    /// a request that has the session but not what the page's form would add (a CSRF token).
    Browser,
}

/// An answer to a raw request, as the server sent it (redirects are not followed).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// A cookie as the browser keeps it (what WebDriver reports, HttpOnly cookies included).
#[derive(Clone, Debug)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, when the browser reports one.
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
    /// Unix seconds; `None` for a session cookie (gone when the browser closes).
    pub expires: Option<i64>,
}

/// A headless Chromium session with its own chromedriver and profile. See the module doc.
pub struct Browser {
    client: Client,
    session: String,
    port: u16,
    // Dropped after Browser::drop has ended the session, before the profile folder goes.
    driver: Driver,
    out: Arc<OutDir>,
    label: String,
    http: reqwest::Client,
    profile: tempfile::TempDir,
}

impl Browser {
    /// A browser for test `test` (its screenshots go to `target/test-screenshots/<test>/`).
    pub async fn start(test: &str) -> Browser {
        Browser::start_as(test, "").await
    }

    /// As [`Browser::start`], for one of several people in the same test: `who` (e.g. `clerk`)
    /// prefixes this browser's screenshot names; the numbering is the test's, across browsers.
    pub async fn start_as(test: &str, who: &str) -> Browser {
        let (chromium, chromedriver) = require_installed();
        let out = out_dir(test);
        let profile = tempfile::Builder::new().prefix("aidpay-chromium-").tempdir().expect("temp dir for the browser profile");
        let n = out.drivers.fetch_add(1, Ordering::SeqCst) + 1;
        let log_path = out.dir.join(format!("chromedriver-{n}.log"));

        // A port found free can be taken before the driver binds it: then it says so and exits,
        // and we try another.
        let mut tries = 0;
        let (driver, port) = loop {
            tries += 1;
            let port = free_port();
            let (exe, log, dir) = (chromedriver.clone(), log_path.clone(), profile.path().to_path_buf());
            match tokio::task::spawn_blocking(move || spawn_driver(&exe, port, &log, &dir)).await.expect("start chromedriver") {
                Ok(child) => break (child, port),
                Err(why) if tries < 3 => eprintln!("chromedriver on port {port}: {why}; trying another port"),
                Err(why) => panic!("chromedriver did not start: {why} (log: {})", log_path.display()),
            }
        };

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("pageLoadStrategy".into(), json!("normal"));
        caps.insert("timeouts".into(), json!({ "implicit": 0, "pageLoad": 30_000, "script": 10_000 }));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    // As root in a container, without a display or a GPU.
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    // Nothing but the pages under test on the network.
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": profile.path().join("downloads"),
                    "download.prompt_for_download": false,
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                },
            }),
        );
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let client = match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => c,
            Err(e) => {
                drop(driver);
                panic!(
                    "no Chromium session from chromedriver ({e}); chromium {}; log {}:\n{}",
                    chromium.display(),
                    log_path.display(),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )
            }
        };
        let mut browser = Browser {
            client,
            session: String::new(),
            port,
            driver,
            out,
            label: if who.is_empty() { String::new() } else { format!("{}-", file_part(who)) },
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            profile,
        };
        browser.session = browser.client.session_id().await.ok().flatten().unwrap_or_default();
        // --window-size is the window's, the page gets less (by what a headed window's bars
        // would take): grow the window until the page has the whole WINDOW.
        for _ in 0..3 {
            let (w, h) = browser.viewport().await;
            if (w, h) == WINDOW {
                break;
            }
            let (ww, wh) = browser.client.get_window_size().await.expect("window size");
            let (ww, wh) = (ww as i64 + i64::from(WINDOW.0) - i64::from(w), wh as i64 + i64::from(WINDOW.1) - i64::from(h));
            if let Err(e) = browser.client.set_window_size(ww as u32, wh as u32).await {
                browser.fail("set the window size", e).await;
            }
        }
        browser
    }

    /// The page's own width and height (CSS pixels): [`WINDOW`] once started.
    pub async fn viewport(&self) -> (u32, u32) {
        match self.client.execute("return [window.innerWidth, window.innerHeight];", vec![]).await {
            Ok(v) => (v[0].as_u64().unwrap_or(0) as u32, v[1].as_u64().unwrap_or(0) as u32),
            Err(e) => self.fail("read the viewport size", e).await,
        }
    }

    /// The WebDriver client itself, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The process group of this browser's chromedriver and Chromium (their pgid).
    pub fn process_group(&self) -> u32 {
        self.driver.0.id()
    }

    /// This test's output folder (screenshots, driver logs).
    pub fn output_dir(&self) -> &Path {
        &self.out.dir
    }

    /// Where Chromium saves downloads (inside this browser's temporary profile).
    pub fn download_dir(&self) -> PathBuf {
        self.profile.path().join("downloads")
    }

    /// The address of the page shown, for messages.
    pub async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("(no address: {e})"))
    }

    async fn fail(&self, what: &str, err: impl std::fmt::Display) -> ! {
        panic!("browser: {what}: {err}\n  on page {}", self.url().await)
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("open {url}"), e).await;
        }
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        match self.client.title().await {
            Ok(t) => t,
            Err(e) => self.fail("read the title", e).await,
        }
    }

    /// The page's visible text (`<body>` as rendered: hidden elements left out).
    pub async fn text(&self) -> String {
        let body = match self.client.find(Locator::Css("body")).await {
            Ok(b) => b,
            Err(e) => self.fail("find <body>", e).await,
        };
        match body.text().await {
            Ok(t) => t,
            Err(e) => self.fail("read the page text", e).await,
        }
    }

    /// The page's HTML as the browser has it now.
    pub async fn html(&self) -> String {
        match self.client.source().await {
            Ok(t) => t,
            Err(e) => self.fail("read the page source", e).await,
        }
    }

    /// Every element `css` matches (none is no error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("find {css}"), e).await,
        }
    }

    /// The form field named `field`: by `name`, else by `id`, else by the text of its `<label>`.
    pub async fn field(&self, field: &str) -> Element {
        let q = css_string(field);
        if let Some(e) = self.find_all(&format!("[name={q}], [id={q}]")).await.into_iter().next() {
            return e;
        }
        let lit = xpath_literal(field);
        let by_label = format!(
            "//*[@id=//label[normalize-space()={lit}]/@for] | //label[normalize-space()={lit}]//*[self::input or self::select or self::textarea]"
        );
        match self.client.find_all(Locator::XPath(&by_label)).await {
            Ok(v) if !v.is_empty() => v.into_iter().next().unwrap(),
            Ok(_) => self.fail(&format!("find field {field:?}"), "no element with that name, id or label").await,
            Err(e) => self.fail(&format!("find field {field:?}"), e).await,
        }
    }

    /// Types `value` into the field (emptied first).
    pub async fn fill(&self, field: &str, value: &str) {
        let e = self.field(field).await;
        if let Err(err) = e.clear().await {
            self.fail(&format!("clear field {field:?}"), err).await;
        }
        if let Err(err) = e.send_keys(value).await {
            self.fail(&format!("type into field {field:?}"), err).await;
        }
    }

    /// Chooses the option shown as `label` in the `<select>` `field`.
    pub async fn select(&self, field: &str, label: &str) {
        let e = self.field(field).await;
        if let Err(err) = e.select_by_label(label).await {
            self.fail(&format!("choose {label:?} in {field:?}"), err).await;
        }
    }

    /// Clicks the first displayed element `css` matches; a click that starts a navigation
    /// returns once the new page has loaded.
    pub async fn click(&self, css: &str) {
        let found = self.find_all(css).await;
        self.click_first_displayed(found, &format!("click {css}")).await;
    }

    /// Clicks the button, submit input or link whose visible text is `text` (spaces trimmed).
    pub async fn click_text(&self, text: &str) {
        let lit = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space()={lit}] \
             | //input[(@type='submit' or @type='button' or @type='reset') and normalize-space(@value)={lit}] \
             | //a[normalize-space()={lit}]"
        );
        let found = match self.client.find_all(Locator::XPath(&xpath)).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("find {text:?}"), e).await,
        };
        self.click_first_displayed(found, &format!("click {text:?}")).await;
    }

    async fn click_first_displayed(&self, found: Vec<Element>, what: &str) {
        for e in found {
            if e.is_displayed().await.unwrap_or(false) {
                if let Err(err) = e.click().await {
                    self.fail(what, err).await;
                }
                return;
            }
        }
        self.fail(what, "nothing displayed matches").await
    }

    /// Submits the form `form_css` matches with its submit button, as a person would.
    pub async fn submit(&self, form_css: &str) {
        let form = match self.client.find(Locator::Css(form_css)).await {
            Ok(f) => f,
            Err(e) => self.fail(&format!("find form {form_css}"), e).await,
        };
        let buttons = match form
            .find_all(Locator::Css("button:not([type]), button[type=submit], input[type=submit]"))
            .await
        {
            Ok(v) => v,
            Err(e) => self.fail(&format!("find the submit button of {form_css}"), e).await,
        };
        self.click_first_displayed(buttons, &format!("submit {form_css}")).await;
    }

    /// Removes from the page every element `css` matches (e.g. a form's CSRF token, to show that
    /// the server refuses the form without it); returns how many there were.
    pub async fn remove(&self, css: &str) -> u64 {
        let script = "const all = document.querySelectorAll(arguments[0]); all.forEach(e => e.remove()); return all.length;";
        match self.client.execute(script, vec![json!(css)]).await {
            Ok(v) => v.as_u64().unwrap_or(0),
            Err(e) => self.fail(&format!("remove {css}"), e).await,
        }
    }

    /// Waits until an element matches `css` (at most `timeout`) and returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        match self.client.wait().at_most(timeout).every(Duration::from_millis(50)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => {
                self.screenshot("timeout").await;
                self.fail(&format!("wait {timeout:?} for {css}"), e).await
            }
        }
    }

    /// Waits until the page's visible text contains `text` (at most `timeout`).
    pub async fn wait_for_text(&self, text: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            let body = match self.client.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(text) {
                return;
            }
            if Instant::now() > until {
                self.screenshot("timeout").await;
                self.fail(&format!("wait {timeout:?} for the text {text:?}"), format!("the page says:\n{body}")).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The browser's cookies for the page it is on.
    pub async fn cookies(&self) -> Vec<BrowserCookie> {
        let all = match self.client.get_all_cookies().await {
            Ok(v) => v,
            Err(e) => self.fail("read the cookies", e).await,
        };
        all.into_iter()
            .map(|c| BrowserCookie {
                name: c.name().to_string(),
                value: c.value().to_string(),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_string),
                domain: c.domain().map(str::to_string),
                expires: c.expires_datetime().map(|t| t.unix_timestamp()),
            })
            .collect()
    }

    /// The cookie `name` for the page the browser is on, if the browser has one.
    pub async fn cookie(&self, name: &str) -> Option<BrowserCookie> {
        self.cookies().await.into_iter().find(|c| c.name == name)
    }

    /// Saves what the window shows as `NN-<name>.png` in the test's output folder; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        match self.client.screenshot().await {
            Ok(png) => self.save_png(name, &png),
            Err(e) => self.fail(&format!("screenshot {name}"), e).await,
        }
    }

    fn save_png(&self, name: &str, png: &[u8]) -> PathBuf {
        let n = self.out.shots.fetch_add(1, Ordering::SeqCst) + 1;
        let path = self.out.dir.join(format!("{n:02}-{}{}.png", self.label, file_part(name)));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// A form post that WebDriver cannot make: exactly these fields, url-encoded, no token the
    /// page would add, with the browser's cookies or none. Redirects are not followed.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)], cookies: WithCookies) -> RawResponse {
        let req = self.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(form_encode(fields));
        self.send_raw(req, url, cookies).await
    }

    /// A plain GET beside the browser (e.g. a file to download), with the browser's cookies or none.
    pub async fn get(&self, url: &str, cookies: WithCookies) -> RawResponse {
        let req = self.http.get(url);
        self.send_raw(req, url, cookies).await
    }

    async fn send_raw(&self, mut req: reqwest::RequestBuilder, url: &str, cookies: WithCookies) -> RawResponse {
        if cookies == WithCookies::Browser {
            let header: Vec<String> = self.cookies().await.iter().map(|c| format!("{}={}", c.name, c.value)).collect();
            if !header.is_empty() {
                req = req.header("cookie", header.join("; "));
            }
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("raw request to {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_else(|e| panic!("body of {url}: {e}")).to_vec();
        RawResponse { status, headers, body }
    }

    /// Ends the session and the driver now (dropping the browser does the same).
    pub async fn close(self) {
        // Drop does the work; a blocking request there is fine, but on the runtime's own thread
        // it would hold up other tasks, so drop elsewhere.
        tokio::task::spawn_blocking(move || drop(self)).await.expect("close the browser");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // On its own thread and runtime: Drop may run inside the test's runtime, even while
        // it unwinds.
        let (port, session, panicking) = (self.port, self.session.clone(), std::thread::panicking());
        let shot = std::thread::spawn(move || -> Option<Vec<u8>> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
                let base = format!("http://127.0.0.1:{port}/session/{session}");
                let mut png = None;
                if panicking && !session.is_empty() {
                    // The page the test failed on.
                    if let Ok(r) = http.get(format!("{base}/screenshot")).send().await
                        && let Ok(v) = r.json::<Value>().await
                    {
                        png = v["value"].as_str().and_then(base64_decode);
                    }
                }
                if !session.is_empty() {
                    // Chromium ends, and its driver reaps it.
                    let _ = http.delete(&base).send().await;
                }
                png
            })
        })
        .join()
        .ok()
        .flatten();
        if let Some(png) = shot {
            let path = self.save_png("panic", &png);
            eprintln!("browser: the page at the panic is in {}", path.display());
        }
    }
}

/// A running chromedriver; dropping it kills its process group (Chromium included).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(&mut self.0);
    }
}

/// Starts chromedriver on `port` in a process group of its own (Chromium joins it), with a watcher
/// that kills the group and removes the `profile` folder once this test binary is gone; waits
/// until the driver listens.
fn spawn_driver(chromedriver: &Path, port: u16, log_path: &Path, profile: &Path) -> Result<Driver, String> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("{}: {e}; {INSTALL}", chromedriver.display()))?;
    let pgid = child.id();
    let mut child = Driver(child);
    let profile = profile.display().to_string();
    let rm = if profile.contains('\'') { String::new() } else { format!("sleep 1; rm -rf '{profile}'") };
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -s 0 {me} 2>/dev/null; do kill -s 0 -- -{pgid} 2>/dev/null || exit 0; sleep 1; done; \
             kill -s KILL -- -{pgid} 2>/dev/null; {rm}",
            me = std::process::id()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();

    // Its stdout, line by line, into the log and to us; "started successfully" means it listens.
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains("started successfully") => return Ok(child),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("it exited ({status}): {}", std::fs::read_to_string(log_path).unwrap_or_default()));
        }
        if Instant::now() > until {
            return Err("it did not say it had started within 20 s".into());
        }
    }
}

/// Kills the driver's whole process group (Chromium included) and reaps the driver.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// `application/x-www-form-urlencoded`, as a browser encodes a form (UTF-8).
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// A CSS string literal.
fn css_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An XPath 1.0 string literal (which has no escapes: `concat` when both quotes occur).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Standard base64 (a WebDriver screenshot); `None` if it is not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[test]
fn encodings() {
    assert_eq!(form_encode(&[("user", "张三"), ("note", "a b&c=d")]), "user=%E5%BC%A0%E4%B8%89&note=a+b%26c%3Dd");
    assert_eq!(xpath_literal("登录"), "'登录'");
    assert_eq!(xpath_literal("it's"), "\"it's\"");
    assert_eq!(xpath_literal("it's \"x\""), "concat('it', \"'\", 's \"x\"')");
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
}
