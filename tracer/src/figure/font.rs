//! The figures' one typeface, DejaVu Sans (Debian's fonts-dejavu-core, which
//! scripts/setup.sh installs): measured to size margins from the text, and rasterized for
//! PNG. SVG names it first in its font list; the fallbacks (Arial, Helvetica) are narrower,
//! so text measured here still fits where a viewer lacks it.
//!
//! Sizes are CSS pixels per em, as SVG's `font-size`. ab_glyph scales a font by its height
//! (ascent - descent) instead, about 1.16 em for DejaVu Sans, hence [`Fonts::scale`].
use ab_glyph::{Font as _, FontVec, Glyph, PxScale, PxScaleFont, ScaleFont as _, point};
use anyhow::Context as _;

const REGULAR: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// The `font-family` of SVG text.
pub const FAMILY: &str = "DejaVu Sans, Arial, Helvetica, sans-serif";

pub struct Fonts {
    regular: FontVec,
    bold: FontVec,
}

impl Fonts {
    pub fn load() -> anyhow::Result<Self> {
        let load = |path: &str| {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading the font {path} (package fonts-dejavu-core)"))?;
            let font = FontVec::try_from_vec(bytes)
                .ok()
                .filter(|f| f.units_per_em().is_some())
                .with_context(|| format!("{path} is not a usable font"))?;
            anyhow::Ok(font)
        };
        Ok(Self { regular: load(REGULAR)?, bold: load(BOLD)? })
    }

    /// The font at `size` pixels per em.
    fn scale(&self, size: f32, bold: bool) -> PxScaleFont<&FontVec> {
        let font = if bold { &self.bold } else { &self.regular };
        let units_per_em = font.units_per_em().expect("checked when loaded");
        font.as_scaled(PxScale::from(size * font.height_unscaled() / units_per_em))
    }

    /// The glyphs of `text` at `size` pixels per em on a baseline from (0, 0), kerned, and
    /// the width they advance.
    fn line(&self, text: &str, size: f32, bold: bool) -> (Vec<Glyph>, f32) {
        let font = self.scale(size, bold);
        let mut glyphs = Vec::with_capacity(text.len());
        let mut x = 0.0;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = glyphs.last().map(|g: &Glyph| g.id) {
                x += font.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(font.scale(), point(x, 0.0)));
            x += font.h_advance(id);
        }
        (glyphs, x)
    }

    /// How wide `text` is at `size` pixels per em.
    pub fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        self.line(text, size, bold).1
    }

    /// Rasterizes `text` with its baseline starting at `origin`: `plot(x, y, coverage)` for
    /// every pixel a glyph covers, coverage from 0 to 1.
    pub fn draw(
        &self,
        text: &str,
        size: f32,
        bold: bool,
        origin: (f32, f32),
        mut plot: impl FnMut(i64, i64, f32),
    ) {
        let font = self.scale(size, bold);
        for mut glyph in self.line(text, size, bold).0 {
            glyph.position.x += origin.0;
            glyph.position.y += origin.1;
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let corner = outline.px_bounds().min;
            outline.draw(|x, y, coverage| {
                plot(corner.x as i64 + i64::from(x), corner.y as i64 + i64::from(y), coverage);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_pixels_per_em() {
        let fonts = Fonts::load().unwrap();
        // DejaVu Sans: "M" advances 1767 of 2048 units per em; digits 1303.
        assert!((fonts.width("M", 20.0, false) - 20.0 * 1767.0 / 2048.0).abs() < 0.01);
        assert!((fonts.width("0123", 10.0, false) - 4.0 * 10.0 * 1303.0 / 2048.0).abs() < 0.01);
        assert!(fonts.width("net/core", 12.0, true) > fonts.width("net/core", 12.0, false));
    }
}
