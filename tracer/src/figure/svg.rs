//! A [`Scene`] as SVG: text stays `<text>` (searchable, selectable, sharp at any zoom), and
//! each bar is a `<g>` holding its rectangle, its printed value and a `<title>` that viewers
//! show as a tooltip.
use super::{
    font::FAMILY,
    layout::{Anchor, Rect, Scene, Shape, Text},
};

pub fn write(scene: &Scene) -> String {
    let (w, h) = (number(scene.width), number(scene.height));
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"{FAMILY}\">\n<title>{}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
        escape(&scene.title)
    );
    for shape in &scene.shapes {
        match shape {
            Shape::Rect(r) => rect(&mut out, r),
            Shape::Text(t) => text(&mut out, t),
            Shape::Bar { tip, rect: r, value } => {
                out.push_str(&format!("<g class=\"bar\"><title>{}</title>", escape(tip)));
                rect(&mut out, r);
                text(&mut out, value);
                out.push_str("</g>\n");
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

fn rect(out: &mut String, r: &Rect) {
    out.push_str(&format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
        number(r.x),
        number(r.y),
        number(r.w),
        number(r.h),
        r.fill.hex()
    ));
}

fn text(out: &mut String, t: &Text) {
    let anchor = match t.anchor {
        Anchor::Start => "",
        Anchor::Middle => " text-anchor=\"middle\"",
        Anchor::End => " text-anchor=\"end\"",
    };
    let weight = if t.bold { " font-weight=\"bold\"" } else { "" };
    out.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\"{anchor}{weight}>{}</text>\n",
        number(t.x),
        number(t.y),
        number(t.size),
        t.fill.hex(),
        escape(&t.text)
    ));
}

/// A coordinate with at most two decimals, no trailing zeros: small files.
fn number(n: f32) -> String {
    let s = format!("{n:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_text_is_escaped() {
        assert_eq!(number(12.0), "12");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(1.0 / 3.0), "0.33");
        assert_eq!(number(0.0), "0");
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
