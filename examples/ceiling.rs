//! The benchmark's ceiling: actix-web answering one static JSON document with nothing else, on
//! the same workers and cores as Tessera would get.
//!
//! `ceiling ADDR WORKERS [BODY_FILE]` prints `listening on http://ADDR` and serves, at every
//! path, the file's bytes (the very document it is compared with) or a JWKS-sized body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:0".into());
    let workers: usize = args.get(2).and_then(|w| w.parse().ok()).unwrap_or(1);
    let body = match args.get(3) {
        Some(path) => web::Bytes::from(std::fs::read(path)?),
        None => web::Bytes::from(format!(
            "{{\"keys\":[{{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":\"k1\",\"e\":\"AQAB\",\"n\":\"{}\"}}]}}",
            "x".repeat(342)
        )),
    };
    let listener = std::net::TcpListener::bind(addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move || {
            let body = body.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header(("cache-control", "public, max-age=300"))
                    .body(body)
            }
        }))
    })
    .workers(workers)
    .listen(listener)?
    .run()
    .await
}
